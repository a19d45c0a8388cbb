//! The deployment rate of a territory on the analyst's pages: of its open schools of the
//! referential, by degree, how many had at least one visit in the period shown (under the
//! profile and service filters), the same measure as a project's deployment rate against its
//! perimeter (`views::project`), here against every school of the territory.
//!
//! # Why counting active schools shows no figure under k
//! The schools counted are those whose cell of the period's base set (the one every page, CSV
//! file, chart and API call reads, [`pipeline::suppression`]) has at least one visitor. That base
//! set never hides a cell without visitor (primary suppression hides 1 to k − 1 visitors, and
//! the secondary one only picks cells with visitors: [`pipeline::suppression::Table::suppress`]),
//! so a hidden cell always had one. Each school's own line, as the drill-down to its
//! circonscription or département already publishes it, reads either `0`, a figure, or `secret`,
//! and in each case tells whether the school had a visitor. A count of active schools is the sum
//! of what those published lines already say: it gives no number of visitors (it only says
//! "at least one"), and no subtraction of it from anything published gives back a hidden
//! figure. Counting only the schools shown with figures instead would make the rate a count of
//! schools with at least k visitors, which is not the deployment rate the project pages give.

use pipeline::suppression::Suppressed;
use pipeline::Level;
use serde::Serialize;
use utoipa::ToSchema;

use crate::territory::ByDegree;

/// One degree's deployment in a territory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct DegreeDeployment {
    /// Open schools of the referential in the territory.
    pub schools: u64,
    /// Those with at least one visit in the period (under the filters).
    pub active: u64,
    /// `active` / `schools` (none without school).
    pub rate: Option<f64>,
}

impl DegreeDeployment {
    #[allow(clippy::cast_precision_loss)] // ratios of school counts
    fn new(schools: u64, active: u64) -> DegreeDeployment {
        DegreeDeployment { schools, active, rate: (schools > 0).then(|| active as f64 / schools as f64) }
    }
}

/// A territory's deployment: schools with DNMA traffic among its open schools, by degree.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Deployment {
    /// First degree (écoles).
    pub premier: DegreeDeployment,
    /// Second degree (collèges, lycées).
    pub second: DegreeDeployment,
    /// Both degrees.
    pub total: DegreeDeployment,
}

impl Deployment {
    /// The deployment of a territory with these open schools and these active ones.
    pub fn of(schools: ByDegree, active: ByDegree) -> Deployment {
        Deployment {
            premier: DegreeDeployment::new(schools.premier, active.premier),
            second: DegreeDeployment::new(schools.second, active.second),
            total: DegreeDeployment::new(schools.total(), active.total()),
        }
    }
}

/// The schools (UAIs) whose cell of a base set under the profile and service filters had a
/// visitor: hidden or not (see the module's header).
pub fn active_schools<'a>(base: &'a Suppressed, profil: Option<&'a str>, service: Option<&'a str>) -> impl Iterator<Item = &'a str> + 'a {
    base.cells_of(Level::Ecole)
        .filter(move |id| id.within.is_none() && id.breakdown.is_none() && id.profil.as_deref() == profil && id.service.as_deref() == service)
        .filter(|id| id.degre.is_none() && id.secteur.is_none())
        .filter(|id| base.row(id).is_some_and(|r| r.visitors > 0))
        .map(|id| id.code.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_degree_and_none_without_school() {
        let d = Deployment::of(ByDegree { premier: 4, second: 0 }, ByDegree { premier: 1, second: 0 });
        assert_eq!(d.premier, DegreeDeployment { schools: 4, active: 1, rate: Some(0.25) });
        assert_eq!(d.second.rate, None);
        assert_eq!(d.total.rate, Some(0.25));
    }
}
