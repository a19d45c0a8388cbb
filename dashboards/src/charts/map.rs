//! The choropleth maps (académies, départements): metropolitan France in the main frame, the
//! five overseas départements and régions in labelled insets below it, each inset with its own
//! projection fitted to its outlines, and Paris with the petite couronne in a zoom under the
//! legend; or, for a territory below the nation, its areas framed alone (labelled) with their
//! neighbours drawn blank around them. Areas are coloured by the classes of
//! [`Scale`]; a hidden figure is hatched grey ("secret") whatever it was, since the map is only
//! ever given the figures that may be shown. The legend is made of SVG text.

use std::collections::{BTreeMap, BTreeSet};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::legend::{closed, draw_hidden, draw_legend, LegendExtras, Scale, NO_DATA, OUTSIDE_BORDER};
use super::projection::{clip, label_point, overlaps, Frame, Projection};
use super::{err, ChartError};
use crate::geo::{fold, Outline, Overseas, Place};

/// Size of a map image, pixels.
pub const SIZE: (u32, u32) = (840, 700);
/// The main frame (metropolitan France).
const MAIN: Frame = Frame { x: 10.0, y: 38.0, w: 600.0, h: 532.0 };
/// The frame of a territory shown alone (no insets).
const ALONE: Frame = Frame { x: 10.0, y: 38.0, w: 600.0, h: 652.0 };
/// The insets' row: top, width and height of each box, gap between boxes.
const INSETS: (f64, f64, f64, f64) = (582.0, 112.0, 108.0, 10.0);
/// Left edge of the legend.
const LEGEND_X: i32 = 630;
/// The zoom on Paris and the petite couronne (75, 92, 93, 94), under the legend, and the
/// longitudes and latitudes it shows.
const ZOOM: Frame = Frame { x: 630.0, y: 382.0, w: 200.0, h: 188.0 };
const ZOOM_BOUNDS: (f64, f64, f64, f64) = (2.08, 2.68, 48.665, 49.035);

/// How a map's areas are matched with its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaKey {
    /// By name, folded ([`fold`]): académies, under any spelling the plan uses.
    Name,
    /// By code: départements (`35`, `2A`, `971`).
    Code,
}

impl AreaKey {
    fn of(self, outline: &Outline) -> String {
        match self {
            AreaKey::Name => fold(&outline.name),
            AreaKey::Code => outline.code.clone(),
        }
    }

    fn folded(self, key: &str) -> String {
        match self {
            AreaKey::Name => fold(key),
            AreaKey::Code => key.to_owned(),
        }
    }
}

/// A choropleth map to draw.
#[derive(Debug, Clone)]
pub struct Choropleth<'a> {
    /// Title, above the map.
    pub title: &'a str,
    /// What the values are (the legend's heading), e.g. `Visiteurs uniques`.
    pub measure: &'a str,
    /// The areas.
    pub outlines: &'a [Outline],
    /// How `values` name them.
    pub key: AreaKey,
    /// Counts by area as they may be shown: `None` for a hidden figure (hatched, "secret").
    /// An area without an entry has no data (or lies outside the territory, when `crop`);
    /// entries without an outline are left out (the legend's classes too).
    pub values: &'a BTreeMap<String, Option<f64>>,
    /// Frame only the areas that have an entry (when they lie in one place: metropolitan France
    /// or one overseas inset), the others drawn blank around them.
    pub crop: bool,
    /// The credit of the outlines, under the legend.
    pub source: &'a str,
    /// The unit written after the legend's values (`" %"` when the values are percentages), or
    /// empty for counts.
    pub unit: &'a str,
}

/// How an area is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shade {
    /// Its figure's class.
    Class(usize),
    /// Its figure is hidden.
    Hidden,
    /// No figure at all.
    NoData,
    /// Outside the territory shown.
    Outside,
}

/// Labels (code or name) on the areas of a place drawn whole in a frame (their largest ring).
fn draw_labels(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    areas: &[(&Outline, Shade)],
    (key, place): (AreaKey, Place),
    (projection, frame): (&Projection, Frame),
    scale: Option<&Scale>,
) -> Result<(), ChartError> {
    let inside =
        |&(x, y): &(i32, i32)| (frame.x..=frame.x + frame.w).contains(&f64::from(x)) && (frame.y..=frame.y + frame.h).contains(&f64::from(y));
    for (outline, shade) in areas.iter().filter(|(_, s)| *s != Shade::Outside) {
        let rings = outline.rings.iter().filter(|r| r.place == place).map(|r| projection.pixels(r));
        let Some(ring) = rings.filter(|r| r.len() >= 3).max_by_key(Vec::len) else { continue };
        let Some(at) = ring.iter().all(inside).then(|| label_point(&ring)).flatten() else { continue };
        let dark = match (shade, scale) {
            (Shade::Class(class), Some(scale)) => {
                let RGBColor(r, g, b) = scale.colour(*class);
                0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b) < 140.0
            }
            _ => false,
        };
        let text = if key == AreaKey::Code { outline.code.clone() } else { outline.name.clone() };
        let style =
            ("sans-serif", 15).into_font().style(FontStyle::Bold).color(if dark { &WHITE } else { &BLACK }).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(text, at, style)).map_err(err)?;
    }
    Ok(())
}

/// The shade of each area.
pub(super) fn shades<'o>(map: &Choropleth<'o>, scale: Option<&Scale>) -> Vec<(&'o Outline, Shade)> {
    let values: BTreeMap<String, Option<f64>> = map.values.iter().map(|(k, v)| (map.key.folded(k), *v)).collect();
    map.outlines
        .iter()
        .map(|outline| {
            let shade = match values.get(&map.key.of(outline)) {
                Some(Some(v)) => scale.map_or(Shade::NoData, |s| Shade::Class(s.class(*v))),
                Some(None) => Shade::Hidden,
                None if map.crop => Shade::Outside,
                None => Shade::NoData,
            };
            (outline, shade)
        })
        .collect()
}

/// Draws rings of some areas with a projection, those of `place` only, areas outside the
/// territory first; `cut`: rings are cut to the frame.
fn draw_areas(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    areas: &[(&Outline, Shade)],
    place: Place,
    (projection, frame, cut): (&Projection, Frame, bool),
    scale: Option<&Scale>,
) -> Result<(), ChartError> {
    for outside in [true, false] {
        for (outline, shade) in areas.iter().filter(|(_, s)| (*s == Shade::Outside) == outside) {
            for ring in outline.rings.iter().filter(|r| r.place == place) {
                let mut pixels = projection.pixels(ring);
                if pixels.len() < 3 || !overlaps(&pixels, frame) {
                    continue;
                }
                if cut {
                    pixels = clip(&pixels, frame);
                    if pixels.len() < 3 {
                        continue;
                    }
                }
                let border = match shade {
                    Shade::Class(class) => {
                        root.draw(&Polygon::new(pixels.clone(), scale.map_or(NO_DATA, |s| s.colour(*class)).filled())).map_err(err)?;
                        WHITE
                    }
                    Shade::Hidden => {
                        draw_hidden(root, &pixels)?;
                        WHITE
                    }
                    Shade::NoData => {
                        root.draw(&Polygon::new(pixels.clone(), NO_DATA.filled())).map_err(err)?;
                        WHITE
                    }
                    Shade::Outside => OUTSIDE_BORDER,
                };
                root.draw(&PathElement::new(closed(&pixels), border.stroke_width(1))).map_err(err)?;
            }
        }
    }
    Ok(())
}

/// An inset's box and label; the frame left inside for its drawing.
fn inset_box(root: &DrawingArea<SVGBackend<'_>, Shift>, frame: Frame, label: &str) -> Result<Frame, ChartError> {
    #[allow(clippy::cast_possible_truncation)] // pixels
    let (x, y, w, h) = (frame.x as i32, frame.y as i32, frame.w as i32, frame.h as i32);
    root.draw(&Rectangle::new([(x, y), (x + w, y + h)], OUTSIDE_BORDER.stroke_width(1))).map_err(err)?;
    root.draw(&Text::new(label.to_owned(), (x + 5, y + 4), ("sans-serif", 14).into_font().color(&BLACK).pos(Pos::new(HPos::Left, VPos::Top))))
        .map_err(err)?;
    Ok(Frame { x: frame.x + 3.0, y: frame.y + 20.0, w: frame.w - 6.0, h: frame.h - 23.0 })
}

/// The map as SVG.
pub fn map(map: &Choropleth<'_>) -> Result<String, ChartError> {
    // The classes are made of the figures drawn (not those of territories without an outline).
    let drawn: BTreeSet<String> = map.outlines.iter().filter(|o| !o.rings.is_empty()).map(|o| map.key.of(o)).collect();
    let scale = Scale::of(map.values.iter().filter(|(k, _)| drawn.contains(&map.key.folded(k))).filter_map(|(_, v)| *v));
    let areas = shades(map, scale.as_ref());
    let focus: BTreeSet<Place> = areas.iter().filter(|(_, s)| *s != Shade::Outside).flat_map(|(o, _)| o.rings.iter().map(|r| r.place)).collect();
    let alone = match (map.crop, focus.iter().next()) {
        (true, Some(&place)) if focus.len() == 1 => Some(place),
        _ => None,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let rings_of = |place: Place, only_focus: bool| {
            areas
                .iter()
                .filter(move |(_, s)| !only_focus || *s != Shade::Outside)
                .flat_map(move |(o, _)| o.rings.iter().filter(move |r| r.place == place))
        };
        if let Some(place) = alone {
            // The territory's areas framed, their neighbours cut at the frame's edges.
            if let Some(projection) = Projection::fit(rings_of(place, true), ALONE, 0.04) {
                draw_areas(&root, &areas, place, (&projection, ALONE, true), scale.as_ref())?;
                draw_labels(&root, &areas, (map.key, place), (&projection, ALONE), scale.as_ref())?;
            }
            #[allow(clippy::cast_possible_truncation)] // pixels
            let (x, y, w, h) = (ALONE.x as i32, ALONE.y as i32, ALONE.w as i32, ALONE.h as i32);
            root.draw(&Rectangle::new([(x, y), (x + w, y + h)], OUTSIDE_BORDER.stroke_width(1))).map_err(err)?;
        } else {
            if let Some(projection) = Projection::fit(rings_of(Place::Metropole, false), MAIN, 0.01) {
                draw_areas(&root, &areas, Place::Metropole, (&projection, MAIN, false), scale.as_ref())?;
            }
            let (top, width, height, gap) = INSETS;
            let mut x = MAIN.x;
            for overseas in Overseas::ALL {
                let place = Place::Overseas(overseas);
                let inside = inset_box(&root, Frame { x, y: top, w: width, h: height }, overseas.name())?;
                if let Some(projection) = Projection::fit(rings_of(place, false), inside, 0.02) {
                    draw_areas(&root, &areas, place, (&projection, inside, false), scale.as_ref())?;
                }
                x += width + gap;
            }
            let inside = inset_box(&root, ZOOM, "Paris et petite couronne")?;
            let projection = Projection::fit_bounds(ZOOM_BOUNDS, inside, 0.0);
            draw_areas(&root, &areas, Place::Metropole, (&projection, inside, true), scale.as_ref())?;
            draw_labels(&root, &areas, (map.key, Place::Metropole), (&projection, inside), scale.as_ref())?;
        }
        #[allow(clippy::cast_possible_wrap)] // 840
        let middle = (SIZE.0 / 2) as i32;
        root.draw(&Text::new(
            map.title.to_owned(),
            (middle, 10),
            ("sans-serif", 19).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(err)?;
        draw_legend(&root, (LEGEND_X, 60), map.measure, scale.as_ref(), &LegendExtras { outside: map.crop, source: map.source, unit: map.unit })?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)] // small counts and pixels
mod tests {
    use super::*;
    use crate::charts::legend::{CLASS_COLOURS, SECRET_HATCH};
    use crate::geo;

    fn academies(values: &BTreeMap<String, Option<f64>>) -> Choropleth<'_> {
        Choropleth {
            title: "Visiteurs uniques par académie",
            measure: "Visiteurs uniques",
            outlines: geo::academies(),
            key: AreaKey::Name,
            values,
            crop: false,
            source: geo::ACADEMIE_CREDIT,
            unit: "",
        }
    }

    /// The fill colours and points of the SVG's polygons.
    fn polygons(svg: &str) -> Vec<(String, Vec<(i32, i32)>)> {
        svg.split("<polygon")
            .skip(1)
            .map(|p| {
                let attribute = |name: &str| p.split(&format!(" {name}=\"")).nth(1).and_then(|r| r.split('"').next()).unwrap_or_default().to_owned();
                let points = attribute("points")
                    .split_whitespace()
                    .filter_map(|xy| xy.split_once(',').map(|(x, y)| (x.parse().unwrap(), y.parse().unwrap())))
                    .collect();
                (attribute("fill"), points)
            })
            .collect()
    }

    fn hex(c: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    }

    #[test]
    fn the_legend_reads_its_classes_in_french_and_the_other_swatches() {
        let values: BTreeMap<String, Option<f64>> = geo::academies()
            .iter()
            .enumerate()
            .map(|(i, o)| (o.name.clone(), Some(1_000.0 * (i as f64 + 1.0) + 234.0)))
            .chain([("Rennes".to_owned(), None)])
            .collect();
        let svg = map(&academies(&values)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("Visiteurs uniques par académie"));
        let scale = Scale::of(values.values().filter_map(|v| *v)).unwrap();
        assert_eq!(scale.classes(), 5);
        for label in scale.labels() {
            assert!(label.contains('\u{202f}'), "French thousands: {label}");
            assert!(svg.contains(&label), "{label} in the legend");
        }
        assert!(svg.contains("1\u{202f}234 à "), "the smallest figure starts the first class");
        assert!(svg.contains("secret (chiffre masqué)") && svg.contains("aucune donnée"));
        assert!(svg.contains("académies 2020") && !svg.contains("hors du territoire"));
        // A territory without an outline (a vice-rectorat) changes nothing.
        let mut with_noumea = values.clone();
        with_noumea.insert("Nouvelle-Calédonie".to_owned(), Some(9_999_999.0));
        assert_eq!(map(&academies(&with_noumea)).unwrap(), svg);
    }

    #[test]
    fn the_five_overseas_insets_are_drawn_and_labelled() {
        let values: BTreeMap<String, Option<f64>> = geo::academies().iter().map(|o| (o.name.clone(), Some(50.0))).collect();
        let svg = map(&academies(&values)).unwrap();
        let (top, width, _, gap) = INSETS;
        for (i, overseas) in Overseas::ALL.into_iter().enumerate() {
            assert!(svg.contains(overseas.name()), "{} labelled", overseas.name());
            let (x0, x1, y0) = ((MAIN.x + i as f64 * (width + gap)) as i32, (MAIN.x + i as f64 * (width + gap) + width) as i32, top as i32);
            let inside = polygons(&svg).into_iter().filter(|(_, points)| points.iter().all(|&(x, y)| (x0..=x1).contains(&x) && y > y0)).count();
            assert!(inside >= 1, "{} drawn in its inset", overseas.name());
        }
        // Normandie is drawn (its Saint-Pierre-et-Miquelon ring is not), and all 25 metropolitan académies.
        let main = polygons(&svg).into_iter().filter(|(fill, points)| *fill == hex(CLASS_COLOURS[2]) && points.iter().all(|&(_, y)| y < 575)).count();
        assert!(main >= 25, "{main}");
    }

    #[test]
    fn a_hidden_figure_is_never_drawn_with_a_class_colour() {
        let mut values: BTreeMap<String, Option<f64>> = geo::academies().iter().map(|o| (o.name.clone(), None)).collect();
        values.insert("Paris".to_owned(), Some(12_345.0));
        let chart = academies(&values);
        let scale = Scale::of([12_345.0]);
        let shades = shades(&chart, scale.as_ref());
        assert!(shades.iter().all(|(o, s)| if o.name == "Paris" { *s == Shade::Class(0) } else { *s == Shade::Hidden }));
        let svg = map(&chart).unwrap();
        let class_fills: Vec<String> = CLASS_COLOURS.iter().map(|c| hex(*c)).collect();
        let coloured = polygons(&svg).into_iter().filter(|(fill, _)| class_fills.contains(fill)).count();
        assert_eq!(coloured, 3, "Paris (on the map and in the zoom on Paris) and its legend swatch only");
        assert!(svg.contains(&hex(SECRET_HATCH)), "hidden areas hatched");
        assert!(svg.contains("12\u{202f}345"));
        // Nothing to show at all: no class, no class colour.
        let values: BTreeMap<String, Option<f64>> = values.keys().map(|k| (k.clone(), None)).collect();
        let svg = map(&academies(&values)).unwrap();
        assert!(polygons(&svg).iter().all(|(fill, _)| !class_fills.contains(fill)));
        assert!(svg.contains("aucun chiffre affichable"));
    }

    #[test]
    fn the_departement_map_draws_every_departement_or_one_territory_alone() {
        let outlines = geo::departements();
        let values: BTreeMap<String, Option<f64>> = outlines.iter().enumerate().map(|(i, o)| (o.code.clone(), Some(i as f64))).collect();
        let mut chart = Choropleth {
            title: "Visiteurs uniques par département",
            measure: "Visiteurs uniques",
            outlines,
            key: AreaKey::Code,
            values: &values,
            crop: false,
            source: geo::DEPARTEMENT_CREDIT,
            unit: "",
        };
        let svg = map(&chart).unwrap();
        assert!(polygons(&svg).len() >= 101, "{}", polygons(&svg).len());
        assert!(Overseas::ALL.iter().all(|o| svg.contains(o.name())));
        assert!(svg.contains("Admin Express"));
        // Bretagne alone: its four départements coloured, the neighbours blank, no insets.
        let bretagne: BTreeMap<String, Option<f64>> =
            [("22", Some(10.0)), ("29", Some(20.0)), ("35", None), ("56", Some(40.0))].into_iter().map(|(c, v)| (c.to_owned(), v)).collect();
        chart.values = &bretagne;
        chart.crop = true;
        let svg = map(&chart).unwrap();
        assert!(svg.contains("hors du territoire") && !svg.contains("Mayotte"));
        let class_fills: Vec<String> = CLASS_COLOURS.iter().map(|c| hex(*c)).collect();
        let coloured: Vec<(String, Vec<(i32, i32)>)> = polygons(&svg).into_iter().filter(|(fill, _)| class_fills.contains(fill)).collect();
        assert!(coloured.len() >= 3 + 3, "three départements and three swatches");
        let width = |points: &[(i32, i32)]| points.iter().map(|p| p.0).max().unwrap() - points.iter().map(|p| p.0).min().unwrap();
        assert!(coloured.iter().map(|(_, p)| width(p)).max().unwrap() > 200, "framed large");
        // La Réunion alone.
        let reunion: BTreeMap<String, Option<f64>> = [("974".to_owned(), Some(10.0))].into();
        chart.values = &reunion;
        let svg = map(&chart).unwrap();
        let island = polygons(&svg).into_iter().find(|(fill, p)| class_fills.contains(fill) && p.len() > 10).unwrap();
        assert!(width(&island.1) > 300);
    }
}
