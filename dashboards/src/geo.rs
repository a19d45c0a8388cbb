//! Territory outlines for the maps, from two shipped open-data files: the académies
//! (`contours-academies-2020.geojson`, Licence Ouverte 2.0) and the départements with the
//! overseas ones (`departements-avec-outre-mer.geojson`, france-geojson from IGN Admin Express
//! and INSEE COG 2018, Licence Ouverte), both shipped unmodified and simplified here at load:
//! outer rings as lists of (longitude, latitude), points closer than ~1 km to the previous one
//! dropped. Each ring is placed in metropolitan France or one of the five overseas départements
//! and régions drawn as insets; rings elsewhere (Saint-Pierre-et-Miquelon, which the académie
//! file puts in Normandie) are dropped. Each file is parsed once per process.

use std::sync::LazyLock;

use serde_json::Value;

const ACADEMIES: &str = include_str!("../../tagging-plan/data/contours-academies-2020.geojson");
const DEPARTEMENTS: &str = include_str!("../../tagging-plan/data/departements-avec-outre-mer.geojson");

static ACADEMIE_OUTLINES: LazyLock<Vec<Outline>> = LazyLock::new(|| parse(ACADEMIES, "code_academie", "name"));
static DEPARTEMENT_OUTLINES: LazyLock<Vec<Outline>> = LazyLock::new(|| parse(DEPARTEMENTS, "code", "nom"));

/// The credit of the académie outlines, as the maps print it.
pub const ACADEMIE_CREDIT: &str = "Contours : ministère de l'Éducation\nnationale, académies 2020\n(Licence Ouverte 2.0)";
/// The credit of the département outlines, as the maps print it.
pub const DEPARTEMENT_CREDIT: &str = "Contours : IGN Admin Express\nCOG 2018, INSEE COG 2018, via\nfrance-geojson (Licence Ouverte)";

/// An overseas département and région, drawn in an inset of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Overseas {
    /// 971.
    Guadeloupe,
    /// 972.
    Martinique,
    /// 973.
    Guyane,
    /// 974.
    Reunion,
    /// 976.
    Mayotte,
}

impl Overseas {
    /// The insets, in the order they are drawn.
    pub const ALL: [Overseas; 5] = [Overseas::Guadeloupe, Overseas::Martinique, Overseas::Guyane, Overseas::Reunion, Overseas::Mayotte];

    /// The inset's label.
    pub fn name(self) -> &'static str {
        match self {
            Overseas::Guadeloupe => "Guadeloupe",
            Overseas::Martinique => "Martinique",
            Overseas::Guyane => "Guyane",
            Overseas::Reunion => "La Réunion",
            Overseas::Mayotte => "Mayotte",
        }
    }

    /// Longitudes and latitudes that hold it (and nothing else drawn).
    fn bounds(self) -> ((f64, f64), (f64, f64)) {
        match self {
            Overseas::Guadeloupe => ((-62.0, -60.9), (15.7, 16.7)),
            Overseas::Martinique => ((-61.4, -60.7), (14.3, 15.0)),
            Overseas::Guyane => ((-55.0, -51.0), (1.5, 6.5)),
            Overseas::Reunion => ((55.0, 56.0), (-21.6, -20.6)),
            Overseas::Mayotte => ((44.8, 45.5), (-13.2, -12.4)),
        }
    }
}

/// Where a ring is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Place {
    /// Metropolitan France (Corsica included): the main frame.
    Metropole,
    /// An overseas inset.
    Overseas(Overseas),
}

impl Place {
    /// The place of a point, if it is drawn at all.
    pub fn of(lon: f64, lat: f64) -> Option<Place> {
        let within = |((w, e), (s, n)): ((f64, f64), (f64, f64))| (w..=e).contains(&lon) && (s..=n).contains(&lat);
        if within(((-6.0, 10.0), (41.0, 52.0))) {
            return Some(Place::Metropole);
        }
        Overseas::ALL.into_iter().find(|o| within(o.bounds())).map(Place::Overseas)
    }
}

/// One outer ring of a territory's polygons.
#[derive(Debug, Clone)]
pub struct Ring {
    /// Where it is drawn.
    pub place: Place,
    /// (longitude, latitude), not closed (the last point is not the first again).
    pub points: Vec<(f64, f64)>,
}

/// One territory's outline.
#[derive(Debug, Clone)]
pub struct Outline {
    /// Code in the file (académie code `14`, département code `35`, `2A`, `971`…).
    pub code: String,
    /// Name as in the file (`Lyon`, `Nancy-Metz`, `Ille-et-Vilaine`…).
    pub name: String,
    /// Outer rings of its polygons that are drawn.
    pub rings: Vec<Ring>,
}

fn ring(points: &Value) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for point in points.as_array().into_iter().flatten() {
        let (Some(lon), Some(lat)) = (point.get(0).and_then(Value::as_f64), point.get(1).and_then(Value::as_f64)) else { continue };
        if out.last().is_none_or(|&(x, y)| (x - lon).abs() + (y - lat).abs() > 0.01) {
            out.push((lon, lat));
        }
    }
    if out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    out
}

/// The outlines of a `GeoJSON` feature collection, each named by two of its properties.
fn parse(geojson: &str, code_property: &str, name_property: &str) -> Vec<Outline> {
    let Ok(json) = serde_json::from_str::<Value>(geojson) else { return Vec::new() };
    let mut outlines = Vec::new();
    for feature in json["features"].as_array().into_iter().flatten() {
        let property = |name: &str| feature["properties"][name].as_str().unwrap_or_default().to_owned();
        let geometry = &feature["geometry"];
        let polygons: Vec<&Value> = match geometry["type"].as_str() {
            Some("Polygon") => vec![&geometry["coordinates"]],
            Some("MultiPolygon") => geometry["coordinates"].as_array().map(|p| p.iter().collect()).unwrap_or_default(),
            _ => Vec::new(),
        };
        let rings = polygons
            .iter()
            .filter_map(|p| p.get(0))
            .map(ring)
            .filter(|r| r.len() >= 3)
            .filter_map(|points| Place::of(points[0].0, points[0].1).map(|place| Ring { place, points }))
            .collect();
        outlines.push(Outline { code: property(code_property), name: property(name_property), rings });
    }
    outlines
}

/// The académie outlines (the 30 académies; not the four vice-rectorats of the plan).
pub fn academies() -> &'static [Outline] {
    &ACADEMIE_OUTLINES
}

/// The département outlines (the 96 of metropolitan France and 971 to 976).
pub fn departements() -> &'static [Outline] {
    &DEPARTEMENT_OUTLINES
}

/// A name folded for matching the plan's académie names with the file's (case, accents, dashes).
pub fn fold(name: &str) -> String {
    name.chars()
        .filter_map(|c| match c {
            'é' | 'è' | 'ê' | 'É' | 'È' => Some('e'),
            'ô' => Some('o'),
            'î' | 'ï' => Some('i'),
            'ç' => Some('c'),
            '-' | ' ' | '\'' | '’' => None,
            c => Some(c.to_ascii_lowercase()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(outline: &Outline) -> Vec<Place> {
        let mut places: Vec<Place> = outline.rings.iter().map(|r| r.place).collect();
        places.dedup();
        places
    }

    #[test]
    fn every_academie_of_the_plan_has_an_outline() {
        let outlines = academies();
        assert_eq!(outlines.len(), 30);
        let plan = tagging_plan::Plan::shipped();
        let names: Vec<String> = outlines.iter().map(|o| fold(&o.name)).collect();
        let missing: Vec<&str> = plan.territories().academies().iter().map(|a| a.nom.as_str()).filter(|n| !names.contains(&fold(n))).collect();
        // The 2020 contours cover the 30 académies, not the four vice-rectorats of the plan.
        assert_eq!(missing, ["Nouvelle-Calédonie", "Polynésie française", "Wallis-et-Futuna", "Saint-Pierre-et-Miquelon"]);
        assert_eq!(outlines.iter().filter(|o| places(o) == [Place::Metropole]).count(), 25, "Normandie without Saint-Pierre-et-Miquelon");
        for overseas in Overseas::ALL {
            let of_it: Vec<&str> = outlines.iter().filter(|o| places(o) == [Place::Overseas(overseas)]).map(|o| o.name.as_str()).collect();
            assert_eq!(of_it, [overseas.name()]);
        }
    }

    #[test]
    fn every_departement_of_the_plan_with_an_outline_is_there_overseas_ones_included() {
        let outlines = departements();
        assert_eq!(outlines.len(), 101);
        let plan = tagging_plan::Plan::shipped();
        let codes: Vec<&str> = outlines.iter().map(|o| o.code.as_str()).collect();
        let missing: Vec<&str> = plan
            .territories()
            .academies()
            .iter()
            .flat_map(|a| a.departements.iter().map(|d| d.code.as_str()))
            .filter(|c| !codes.contains(c))
            .collect();
        assert!(missing.iter().all(|c| c.starts_with("97") || c.starts_with("98")), "{missing:?}");
        assert!(!missing.contains(&"976") && !missing.contains(&"2A"));
        for (code, overseas) in [
            ("971", Overseas::Guadeloupe),
            ("972", Overseas::Martinique),
            ("973", Overseas::Guyane),
            ("974", Overseas::Reunion),
            ("976", Overseas::Mayotte),
        ] {
            let outline = outlines.iter().find(|o| o.code == code).unwrap();
            assert_eq!(places(outline), [Place::Overseas(overseas)], "{code}");
            assert_eq!(outline.name, if code == "974" { "La Réunion" } else { overseas.name() });
        }
        assert_eq!(outlines.iter().filter(|o| places(o) == [Place::Metropole]).count(), 96);
        assert!(outlines.iter().all(|o| !o.rings.is_empty() && o.rings.iter().all(|r| r.points.len() >= 3)));
    }
}
