//! Small-cell suppression as the dashboards show it: no figure computed from fewer than k unique
//! visitors is shown, exported or returned (users are minors), nor a figure hidden with it so
//! that no subtraction gives it back; which cells are hidden is decided once for all outputs by
//! [`pipeline::suppression`]. A hidden cell keeps its identity (territory, period, breakdown
//! value) but none of its numbers; pages and CSV files print [`pipeline::suppression::HIDDEN`],
//! the API returns `null` with `"suppressed": true` (the same for a cell under k and for one
//! hidden with it).

use pipeline::IndicatorRow;
use serde::Serialize;
use utoipa::ToSchema;

/// The figures of one cell as they may be published.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    /// True when the cell is hidden (fewer than k unique visitors, or hidden with such a cell):
    /// every figure below is then `null`.
    pub suppressed: bool,
    /// Visits.
    pub visits: Option<u64>,
    /// Exact unique visitors.
    pub visitors: Option<u64>,
    /// Page views.
    pub page_views: Option<u64>,
    /// Clicks.
    pub clicks: Option<u64>,
    /// Total visit duration, seconds.
    pub duration_s: Option<u64>,
    /// Mean visit duration, seconds.
    pub mean_duration_s: Option<f64>,
}

impl Figures {
    /// The figures of a cell as [`pipeline::suppression::Suppressed::shown`] gives it: hidden
    /// (`Err`), without visit (`Ok(None)`: zeros) or shown.
    pub fn from(cell: Result<Option<&IndicatorRow>, ()>) -> Figures {
        match cell {
            Err(()) => Figures::suppressed(),
            Ok(None) => Figures::zero(),
            Ok(Some(row)) => Figures::of(row),
        }
    }

    /// The figures of a cell that may be shown.
    fn of(row: &IndicatorRow) -> Figures {
        #[allow(clippy::cast_precision_loss)] // a mean for display
        let mean = (row.visits > 0).then(|| row.duration_s as f64 / row.visits as f64);
        Figures {
            suppressed: false,
            visits: Some(row.visits),
            visitors: Some(row.visitors),
            page_views: Some(row.page_views),
            clicks: Some(row.clicks),
            duration_s: Some(row.duration_s),
            mean_duration_s: mean,
        }
    }

    /// A cell with no figures (fewer than k visitors).
    pub fn suppressed() -> Figures {
        Figures { suppressed: true, visits: None, visitors: None, page_views: None, clicks: None, duration_s: None, mean_duration_s: None }
    }

    /// A cell with no activity at all (no visit): zero is safe to show.
    pub fn zero() -> Figures {
        Figures {
            suppressed: false,
            visits: Some(0),
            visitors: Some(0),
            page_views: Some(0),
            clicks: Some(0),
            duration_s: Some(0),
            mean_duration_s: None,
        }
    }
}

/// How a hidden figure reads in pages and CSV files.
pub fn hidden() -> String {
    pipeline::suppression::HIDDEN.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::{Level, Period};

    fn row(visitors: u64) -> IndicatorRow {
        IndicatorRow {
            level: Level::Ecole,
            code: "0350122T".into(),
            period: Period::Week,
            start: "2026-11-23".parse().unwrap(),
            breakdown: None,
            visits: 10,
            visitors,
            page_views: 30,
            clicks: 4,
            duration_s: 600,
        }
    }

    #[test]
    fn hidden_cells_lose_every_figure() {
        let shown = Figures::from(Ok(Some(&row(5))));
        assert!(!shown.suppressed);
        assert_eq!((shown.visits, shown.visitors, shown.mean_duration_s), (Some(10), Some(5), Some(60.0)));
        let hidden_cell = Figures::from(Err(()));
        assert!(hidden_cell.suppressed);
        assert_eq!(hidden_cell, Figures::suppressed());
        assert_eq!(serde_json::to_value(hidden_cell).unwrap()["visits"], serde_json::Value::Null);
        assert_eq!(Figures::from(Ok(None)), Figures::zero());
        assert_eq!(hidden(), "secret");
    }
}
