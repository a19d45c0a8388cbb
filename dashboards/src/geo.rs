//! Académie outlines from the shipped `contours-academies-2020.geojson` (open data, Licence
//! Ouverte 2.0), simplified for drawing: rings as lists of (longitude, latitude), points closer
//! than ~1 km to the previous one dropped.

use serde_json::Value;

const CONTOURS: &str = include_str!("../../tagging-plan/data/contours-academies-2020.geojson");

/// One académie's outline.
#[derive(Debug, Clone)]
pub struct Outline {
    /// Académie name as in the file (`Lyon`, `Nancy-Metz`…).
    pub name: String,
    /// Outer rings of its polygons.
    pub rings: Vec<Vec<(f64, f64)>>,
    /// Whether it lies in metropolitan France (drawn on the main map).
    pub metropolitan: bool,
}

fn ring(points: &Value) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for point in points.as_array().into_iter().flatten() {
        let (Some(lon), Some(lat)) = (point.get(0).and_then(Value::as_f64), point.get(1).and_then(Value::as_f64)) else { continue };
        if out.last().is_none_or(|&(x, y)| (x - lon).abs() + (y - lat).abs() > 0.01) {
            out.push((lon, lat));
        }
    }
    out
}

/// The shipped outlines.
pub fn outlines() -> Vec<Outline> {
    let Ok(json) = serde_json::from_str::<Value>(CONTOURS) else { return Vec::new() };
    let mut outlines = Vec::new();
    for feature in json["features"].as_array().into_iter().flatten() {
        let name = feature["properties"]["name"].as_str().unwrap_or_default().to_owned();
        let geometry = &feature["geometry"];
        let polygons: Vec<&Value> = match geometry["type"].as_str() {
            Some("Polygon") => vec![&geometry["coordinates"]],
            Some("MultiPolygon") => geometry["coordinates"].as_array().map(|p| p.iter().collect()).unwrap_or_default(),
            _ => Vec::new(),
        };
        let rings: Vec<Vec<(f64, f64)>> = polygons.iter().filter_map(|p| p.get(0)).map(ring).filter(|r| r.len() >= 3).collect();
        let metropolitan = rings.iter().flatten().all(|&(lon, lat)| (-6.0..10.0).contains(&lon) && (41.0..52.0).contains(&lat));
        outlines.push(Outline { name, rings, metropolitan });
    }
    outlines
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

    #[test]
    fn every_academie_of_the_plan_has_an_outline() {
        let outlines = outlines();
        assert_eq!(outlines.len(), 30);
        let plan = tagging_plan::Plan::shipped();
        let names: Vec<String> = outlines.iter().map(|o| fold(&o.name)).collect();
        let missing: Vec<&str> = plan.territories().academies().iter().map(|a| a.nom.as_str()).filter(|n| !names.contains(&fold(n))).collect();
        // The 2020 contours cover the 30 académies, not the four vice-rectorats of the plan.
        assert_eq!(missing, ["Nouvelle-Calédonie", "Polynésie française", "Wallis-et-Futuna", "Saint-Pierre-et-Miquelon"]);
        assert!(outlines.iter().filter(|o| o.metropolitan).count() >= 24);
    }
}
