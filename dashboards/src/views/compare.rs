//! Two territories side by side over the same period and filters: each one's line (figures,
//! per-pupil rate, deployment rate) and weekly series, read from its own analyst view, so that
//! the comparison shows exactly what `/territoires` shows for each.
//!
//! A territory is named `niveau:code` in the URL (`academie:Rennes`, `departement:75`,
//! `ecole:0350122T`), or `nation`.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Filters, PeriodShown, TerritoryRow, WeekPoint};
use crate::{DashboardError, Dashboards};

/// One side of a comparison.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompareSide {
    /// How the URL names it (`academie:Rennes`).
    pub key: String,
    /// Its line: figures, per-pupil rate, deployment.
    pub territory: TerritoryRow,
    /// Unique visitors per week of the school year (and the previous year's).
    pub weekly: Vec<WeekPoint>,
    /// Its holiday zone, when it lies in one.
    pub zone: Option<String>,
}

/// Two territories compared.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompareView {
    /// The period shown (the same for both).
    pub period: PeriodShown,
    /// Profile filter.
    pub profil: Option<String>,
    /// Service filter.
    pub service: Option<String>,
    /// The first territory.
    pub a: CompareSide,
    /// The second.
    pub b: CompareSide,
}

/// A territory named `niveau:code` (or `nation`): its level and code, as the filters take them.
pub fn parse_territory(key: &str) -> Result<(String, Option<String>), DashboardError> {
    let key = key.trim();
    match key.split_once(':') {
        _ if key == "nation" => Ok(("nation".to_owned(), None)),
        Some((niveau, code)) if !niveau.trim().is_empty() && !code.trim().is_empty() => Ok((niveau.trim().to_owned(), Some(code.trim().to_owned()))),
        _ => Err(DashboardError::BadRequest(format!(
            "territoire « {key} » : écrire niveau:code (academie:Rennes, departement:75, ecole:0350122T) ou nation"
        ))),
    }
}

impl Dashboards {
    /// Two territories (`niveau:code` each) compared under the same filters (their `niveau` and
    /// `code` are ignored). An unknown territory is a 404, a malformed one a 400.
    pub async fn compare_view(&self, a: &str, b: &str, filters: &Filters) -> Result<CompareView, DashboardError> {
        let side_filters = |key: &str| -> Result<Filters, DashboardError> {
            let (niveau, code) = parse_territory(key)?;
            Ok(Filters { niveau: Some(niveau), code, ..filters.clone() })
        };
        let (fa, fb) = (side_filters(a)?, side_filters(b)?);
        let (va, vb) = tokio::try_join!(self.territory_view(&fa), self.territory_view(&fb))?;
        let side =
            |key: &str, v: super::TerritoryView| CompareSide { key: key.trim().to_owned(), territory: v.territory, weekly: v.weekly, zone: v.zone };
        Ok(CompareView { period: va.period.clone(), profil: va.profil.clone(), service: va.service.clone(), a: side(a, va), b: side(b, vb) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn territories_are_named_level_colon_code() {
        assert_eq!(parse_territory("academie:Rennes").unwrap(), ("academie".to_owned(), Some("Rennes".to_owned())));
        assert_eq!(parse_territory(" departement:2A ").unwrap(), ("departement".to_owned(), Some("2A".to_owned())));
        assert_eq!(parse_territory("nation").unwrap(), ("nation".to_owned(), None));
        for bad in ["", "Rennes", "academie:", ":35"] {
            assert_eq!(parse_territory(bad).unwrap_err().code(), "bad_request", "{bad}");
        }
    }
}
