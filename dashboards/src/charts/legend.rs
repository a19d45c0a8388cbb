//! The colour scale of the choropleth maps and its legend: at most five classes of counts whose
//! bounds are quantiles of the figures shown (zero apart), rounded to two significant digits, each labelled
//! with its first and last value in French format; then the swatches of areas without a figure:
//! hidden ("secret", hatched), without data, outside the territory shown. Only figures that may
//! be shown make the classes: a hidden area has no value to place in one.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{err, ChartError};
use crate::french;

/// The class colours, light to dark blue (the `ColorBrewer` Blues scheme).
pub(super) const CLASS_COLOURS: [RGBColor; 5] =
    [RGBColor(198, 219, 239), RGBColor(158, 202, 225), RGBColor(107, 174, 214), RGBColor(49, 130, 189), RGBColor(8, 81, 156)];
/// Under the hatching of a hidden area.
pub(super) const SECRET_FILL: RGBColor = RGBColor(236, 236, 236);
/// The hatching of a hidden area.
pub(super) const SECRET_HATCH: RGBColor = RGBColor(96, 96, 96);
/// An area without data.
pub(super) const NO_DATA: RGBColor = RGBColor(196, 196, 196);
/// The border of an area outside the territory shown (its fill is white).
pub(super) const OUTSIDE_BORDER: RGBColor = RGBColor(190, 190, 190);

/// Pixels between two hatch lines.
const HATCH_SPACING: i32 = 5;

/// Classes of counts for a map.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    min: f64,
    max: f64,
    /// First value of each class but the first, increasing.
    thresholds: Vec<f64>,
    /// Whether the first class holds zero only.
    zero_class: bool,
}

impl Scale {
    /// At most this many classes.
    pub const MAX_CLASSES: usize = 5;

    /// The classes of some counts (none when there is no count). Zero, when there are other
    /// counts, is a class of its own (so that a few areas with visits stand out from many
    /// without); the others are split at their quantiles.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Scale> {
        let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        values.sort_by(f64::total_cmp);
        let (&min, &max) = (values.first()?, values.last()?);
        let mut thresholds: Vec<f64> = Vec::new();
        let positive = values.partition_point(|&v| v <= 0.0);
        let zero_class = positive > 0 && positive < values.len();
        let rest = if zero_class {
            thresholds.push(values[positive]);
            &values[positive..]
        } else {
            &values[..]
        };
        let classes = Self::MAX_CLASSES - thresholds.len();
        for i in 1..classes {
            let t = round2(rest[i * rest.len() / classes]);
            if t > rest[0] && t <= max && thresholds.last().is_none_or(|&last| t > last) {
                thresholds.push(t);
            }
        }
        Some(Scale { min, max, thresholds, zero_class })
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.thresholds.len() + 1
    }

    /// The class of a value.
    pub fn class(&self, value: f64) -> usize {
        self.thresholds.iter().take_while(|&&t| t <= value).count()
    }

    /// The colour of a class: the five colours spread over the classes there are.
    pub fn colour(&self, class: usize) -> RGBColor {
        let last = CLASS_COLOURS.len() - 1;
        let n = self.classes();
        CLASS_COLOURS[if n == 1 { last / 2 } else { (class.min(n - 1) * last / (n - 1)).min(last) }]
    }

    /// Each class's label: its first and last value (`1 200 à 2 499`), or its only value.
    pub fn labels(&self) -> Vec<String> {
        (0..self.classes())
            .map(|i| {
                let low = if i == 0 { self.min } else { self.thresholds[i - 1] };
                let high = if i == 0 && self.zero_class { low } else { self.thresholds.get(i).map_or(self.max, |t| t - 1.0).max(low) };
                if high > low {
                    format!("{} à {}", french::decimal(low, 0), french::decimal(high, 0))
                } else {
                    french::decimal(low, 0)
                }
            })
            .collect()
    }
}

/// A count rounded to two significant digits (`1 234` → `1 200`).
fn round2(value: f64) -> f64 {
    if value < 100.0 {
        return value.round();
    }
    let step = 10_f64.powf(value.log10().floor() - 1.0);
    (value / step).round() * step
}

/// The hatch lines (at 45°, on a grid shared by every area so that neighbours' lines meet) over
/// the inside of a ring of pixels.
pub(super) fn hatch(ring: &[(i32, i32)]) -> Vec<[(i32, i32); 2]> {
    let sums = ring.iter().map(|&(x, y)| x + y);
    let (Some(low), Some(high)) = (sums.clone().min(), sums.max()) else { return Vec::new() };
    let mut lines = Vec::new();
    let mut c = low.div_euclid(HATCH_SPACING) * HATCH_SPACING;
    while c <= high {
        // The crossings of the line x + y = c with the ring's edges, left to right.
        let mut xs: Vec<f64> = Vec::new();
        for (i, &(ax, ay)) in ring.iter().enumerate() {
            let (bx, by) = ring[(i + 1) % ring.len()];
            let (ua, ub) = (f64::from(ax + ay), f64::from(bx + by));
            let c = f64::from(c);
            if (ua < c) != (ub < c) {
                xs.push(f64::from(ax) + (c - ua) / (ub - ua) * f64::from(bx - ax));
            }
        }
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks_exact(2) {
            #[allow(clippy::cast_possible_truncation)] // pixels
            let (x0, x1) = (pair[0].round() as i32, pair[1].round() as i32);
            if x1 > x0 {
                lines.push([(x0, c - x0), (x1, c - x1)]);
            }
        }
        c += HATCH_SPACING;
    }
    lines
}

/// A ring of pixels filled for a hidden area: light grey, hatched.
pub(super) fn draw_hidden(root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, ring: &[(i32, i32)]) -> Result<(), ChartError> {
    root.draw(&Polygon::new(ring.to_vec(), SECRET_FILL.filled())).map_err(err)?;
    for line in hatch(ring) {
        root.draw(&PathElement::new(line.to_vec(), SECRET_HATCH.stroke_width(1))).map_err(err)?;
    }
    Ok(())
}

/// What the legend lists besides the classes.
pub(super) struct LegendExtras<'a> {
    /// Whether areas outside the territory are drawn.
    pub outside: bool,
    /// The credit of the outlines (one line of the legend per line).
    pub source: &'a str,
    /// Written after each class's values (`" %"` for rates), or empty.
    pub unit: &'a str,
}

/// The legend, from its top left corner: the measure, the classes, then the other swatches.
pub(super) fn draw_legend(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    (x, y): (i32, i32),
    measure: &str,
    scale: Option<&Scale>,
    extras: &LegendExtras<'_>,
) -> Result<(), ChartError> {
    let left = Pos::new(HPos::Left, VPos::Center);
    let text = |s: &str, at: (i32, i32), size: f64| Text::new(s.to_owned(), at, ("sans-serif", size).into_font().color(&BLACK).pos(left));
    root.draw(&Text::new(measure.to_owned(), (x, y), ("sans-serif", 16).into_font().style(FontStyle::Bold).color(&BLACK).pos(left))).map_err(err)?;
    let swatch = |row: i32| [(x, row - 7), (x + 22, row - 7), (x + 22, row + 7), (x, row + 7)];
    let mut row = y + 28;
    if let Some(scale) = scale {
        for (class, label) in scale.labels().iter().enumerate() {
            root.draw(&Polygon::new(swatch(row).to_vec(), scale.colour(class).filled())).map_err(err)?;
            root.draw(&text(&format!("{label}{}", extras.unit), (x + 30, row), 15.0)).map_err(err)?;
            row += 24;
        }
    } else {
        root.draw(&text("aucun chiffre affichable", (x, row), 15.0)).map_err(err)?;
        row += 24;
    }
    row += 10;
    draw_hidden(root, &swatch(row))?;
    root.draw(&PathElement::new(closed(&swatch(row)), NO_DATA.stroke_width(1))).map_err(err)?;
    root.draw(&text("secret (chiffre masqué)", (x + 30, row), 15.0)).map_err(err)?;
    row += 24;
    root.draw(&Polygon::new(swatch(row).to_vec(), NO_DATA.filled())).map_err(err)?;
    root.draw(&text("aucune donnée", (x + 30, row), 15.0)).map_err(err)?;
    if extras.outside {
        row += 24;
        root.draw(&Polygon::new(swatch(row).to_vec(), WHITE.filled())).map_err(err)?;
        root.draw(&PathElement::new(closed(&swatch(row)), OUTSIDE_BORDER.stroke_width(1))).map_err(err)?;
        root.draw(&text("hors du territoire", (x + 30, row), 15.0)).map_err(err)?;
    }
    row += 20;
    for line in extras.source.lines() {
        row += 15;
        root.draw(&text(line, (x, row), 12.0)).map_err(err)?;
    }
    Ok(())
}

/// A ring's points with the first one again at the end (for its border).
pub(super) fn closed(ring: &[(i32, i32)]) -> Vec<(i32, i32)> {
    let mut points = ring.to_vec();
    points.extend(ring.first().copied());
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_rounded_quantiles_labelled_in_french() {
        let values = (1..=100).map(|i| f64::from(i) * 123.0);
        let scale = Scale::of(values).unwrap();
        assert_eq!(scale.classes(), 5);
        let n = |s: &str| s.replace('_', "\u{202f}");
        let expected = ["123 à 2_599", "2_600 à 4_999", "5_000 à 7_499", "7_500 à 9_999", "10_000 à 12_300"].map(n);
        assert_eq!(scale.labels(), expected);
        assert_eq!((scale.class(123.0), scale.class(2_599.0), scale.class(2_600.0), scale.class(12_300.0)), (0, 0, 1, 4));
        assert_eq!(scale.colour(0), CLASS_COLOURS[0]);
        assert_eq!(scale.colour(4), CLASS_COLOURS[4]);
    }

    #[test]
    fn few_or_equal_values_make_fewer_classes() {
        assert_eq!(Scale::of([]), None);
        let one = Scale::of([0.0, 0.0, 0.0]).unwrap();
        assert_eq!((one.classes(), one.labels()), (1, vec!["0".to_owned()]));
        let two = Scale::of([5.0, 40.0]).unwrap();
        assert_eq!(two.labels(), ["5 à 39", "40"]);
        assert_eq!((two.colour(0), two.colour(1)), (CLASS_COLOURS[0], CLASS_COLOURS[4]));
    }

    #[test]
    fn zero_is_a_class_of_its_own_beside_other_counts() {
        let values = std::iter::repeat_n(0.0, 90).chain((1..=10).map(|i| f64::from(i) * 1_000.0 + 7.0));
        let scale = Scale::of(values).unwrap();
        let n = |s: &str| s.replace('_', "\u{202f}");
        assert_eq!(scale.labels(), ["0", "1_007 à 2_999", "3_000 à 5_999", "6_000 à 7_999", "8_000 à 10_007"].map(n));
        assert_eq!((scale.class(0.0), scale.class(1_007.0), scale.class(10_007.0)), (0, 1, 4));
    }

    #[test]
    fn hatching_stays_inside_its_ring() {
        let square = [(0, 0), (20, 0), (20, 20), (0, 20)];
        let lines = hatch(&square);
        assert!(lines.len() >= 7, "{lines:?}");
        assert!(lines.iter().flatten().all(|&(x, y)| (0..=20).contains(&x) && (0..=20).contains(&y)), "{lines:?}");
    }
}
