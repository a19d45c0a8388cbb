//! School holidays per académie and zone, from the shipped `calendrier-scolaire.csv` (open data
//! of the Ministry, Licence Ouverte 2.0). Dates in the file are the UTC instants of local
//! midnights: a holiday runs from its start day (in Europe/Paris) up to, not including, the day
//! school resumes. Rows for teachers only are ignored.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate};
use chrono_tz::Europe::Paris;

const CALENDAR: &str = include_str!("../../tagging-plan/data/calendrier-scolaire.csv");

/// One holiday period.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Holiday {
    /// First day off.
    pub start: NaiveDate,
    /// The day school resumes.
    pub end: NaiveDate,
    /// E.g. `Vacances de la Toussaint`.
    pub name: String,
}

/// Holidays by académie (location) and by zone.
#[derive(Debug, Default)]
pub struct Calendar {
    by_location: BTreeMap<String, Vec<Holiday>>,
    by_zone: BTreeMap<String, Vec<Holiday>>,
}

fn paris_day(instant: &str) -> Option<NaiveDate> {
    DateTime::parse_from_rfc3339(instant).ok().map(|t| t.with_timezone(&Paris).date_naive())
}

impl Calendar {
    /// The shipped calendar.
    pub fn shipped() -> Calendar {
        Calendar::parse(CALENDAR)
    }

    /// A calendar from the ministry's CSV layout (rows it cannot read are skipped).
    pub fn parse(text: &str) -> Calendar {
        let mut calendar = Calendar::default();
        let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        for record in reader.records().flatten() {
            let (Some(name), Some(population), Some(start), Some(end), Some(location), Some(zone)) =
                (record.get(0), record.get(1), record.get(2), record.get(3), record.get(4), record.get(5))
            else {
                continue;
            };
            if population.starts_with("Enseignants") {
                continue;
            }
            let (Some(start), Some(end)) = (paris_day(start), paris_day(end)) else { continue };
            let end = end.max(start.succ_opt().unwrap_or(start));
            let holiday = Holiday { start, end, name: name.to_owned() };
            calendar.by_location.entry(location.to_owned()).or_default().push(holiday.clone());
            calendar.by_zone.entry(zone.to_owned()).or_default().push(holiday);
        }
        for list in calendar.by_location.values_mut().chain(calendar.by_zone.values_mut()) {
            list.sort();
            list.dedup_by(|a, b| a.start == b.start && a.name == b.name);
        }
        calendar
    }

    /// Holidays of a zone overlapping `from..=to`.
    pub fn zone(&self, zone: &str, from: NaiveDate, to: NaiveDate) -> Vec<Holiday> {
        self.by_zone.get(zone).map(|list| list.iter().filter(|h| h.start <= to && h.end > from).cloned().collect()).unwrap_or_default()
    }

    /// Whether a day is a holiday in a zone.
    pub fn is_holiday(&self, zone: &str, day: NaiveDate) -> bool {
        self.by_zone.get(zone).is_some_and(|list| list.iter().any(|h| h.start <= day && day < h.end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn toussaint_2025_in_zone_b_runs_from_saturday_to_the_monday_school_resumes() {
        let calendar = Calendar::shipped();
        let toussaint = calendar.zone("Zone B", d("2025-10-20"), d("2025-10-20"));
        assert_eq!(toussaint.len(), 1, "{toussaint:?}");
        assert_eq!((toussaint[0].start, toussaint[0].end), (d("2025-10-18"), d("2025-11-03")));
        assert!(calendar.is_holiday("Zone B", d("2025-11-02")));
        assert!(!calendar.is_holiday("Zone B", d("2025-11-03")));
        assert!(!calendar.is_holiday("Zone B", d("2025-10-17")));
    }
}
