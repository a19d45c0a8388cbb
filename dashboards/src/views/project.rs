//! The project owner's view: deployment week by week, adoption, usage by profile and service,
//! the least active schools. Where the project has a perimeter ([`crate::perimeter`]), each week
//! also gives its deployment rate (perimeter schools with at least one visit that week / perimeter
//! schools) and its cumulative rate (perimeter schools with a visit since the start of the school
//! year / perimeter schools), from the same weekly school lists: no query more. These are counts
//! of schools, never of visitors; a school's own figures stay under suppression.

use std::collections::{BTreeMap, HashSet};

use chrono::{Days, NaiveDate};
use pipeline::suppression::CellId;
use pipeline::{IndicatorRow, Level, Period};
use serde::Serialize;
use utoipa::ToSchema;

use super::{mondays, Filters, PeriodShown, TerritoryRow};
use crate::perimeter::{Annotation, PerimeterCounts, Target};
use crate::suppress::Figures;
use crate::{DashboardError, Dashboards};

/// Breakdown shares of one project (profiles, services).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreakdownRow {
    /// The value (`ELEVE`, `MESSAGERIE`…).
    pub value: String,
    /// Its label in the plan.
    pub label: String,
    /// Indicators (none when hidden: under k visitors, or hidden with such a cell).
    pub figures: Figures,
}

/// One week of a project's deployment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeploymentWeek {
    /// Monday.
    pub week: NaiveDate,
    /// Schools with at least one visit that week.
    pub active_schools: u64,
    /// Share of the project's schools active that week.
    pub active_share: f64,
    /// Schools active at least once since the start of the school year (adoption).
    pub adopted_schools: u64,
    /// Whether the week is still running.
    pub incomplete: bool,
    /// Perimeter schools with at least one visit that week (with a perimeter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perimeter_active: Option<u64>,
    /// Deployment rate: `perimeter_active` / perimeter schools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_rate: Option<f64>,
    /// Perimeter schools with a visit since the start of the school year.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub perimeter_adopted: Option<u64>,
    /// Cumulative deployment rate: `perimeter_adopted` / perimeter schools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cumulative_rate: Option<f64>,
}

/// A project's perimeter as the page and the API show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PerimeterSummary {
    /// In French: `écoles publiques du département 35 (Ille-et-Vilaine)`.
    pub description: String,
    /// Its schools.
    pub schools: u64,
    /// By degree and sector.
    pub counts: PerimeterCounts,
    /// Schools seen in the project's traffic this school year outside the perimeter.
    pub active_outside: u64,
    /// The target, if any.
    pub target: Option<Target>,
}

/// The project owner's view.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProjectView {
    /// Project code.
    pub projet: String,
    /// Its platforms seen this school year.
    pub plateformes: Vec<String>,
    /// The period shown.
    pub period: PeriodShown,
    /// The project's schools: seen in its traffic this school year or listed in the configuration.
    pub schools: u64,
    /// Its perimeter, when configured (else the shares are over `schools`, not a deployment rate).
    pub perimeter: Option<PerimeterSummary>,
    /// Dated notes of the project (and of every project), by date.
    pub annotations: Vec<Annotation>,
    /// The project's figures over the period.
    pub figures: Figures,
    /// The same over the previous period of the same kind.
    pub previous: Figures,
    /// Change of visits from the previous period (when both are shown).
    pub visits_change: Option<f64>,
    /// Change of unique visitors from the previous period.
    pub visitors_change: Option<f64>,
    /// Per week since the start of the school year.
    pub deployment: Vec<DeploymentWeek>,
    /// By profile over the period.
    pub profiles: Vec<BreakdownRow>,
    /// By service over the period.
    pub services: Vec<BreakdownRow>,
    /// The least active schools over the period (fewest visits first), at most 20.
    pub least_active: Vec<TerritoryRow>,
}

impl Dashboards {
    pub(super) fn label(&self, nomenclature: &str, code: &str) -> String {
        self.plan
            .nomenclatures()
            .get(nomenclature)
            .and_then(|n| n.values.iter().find(|v| v.code == code))
            .map_or_else(|| code.to_owned(), |v| v.label.clone())
    }

    /// The project owner's view of a project.
    pub async fn project_view(&self, projet: &str, filters: &Filters) -> Result<ProjectView, DashboardError> {
        let mut view =
            self.cache.get_or_compute(format!("projet|{projet}|{filters:?}"), Box::pin(self.compute_project_view(projet, filters))).await?;
        // The notes as they are now (one added through the API shows at once).
        view.annotations = self.annotations_of(projet);
        Ok(view)
    }

    #[allow(clippy::too_many_lines)] // one view, read top to bottom
    async fn compute_project_view(&self, projet: &str, filters: &Filters) -> Result<ProjectView, DashboardError> {
        filters.without_school("la page d'un projet (son périmètre dit ses écoles et établissements)")?;
        let period = filters.period()?;
        let shown = self.period_shown(filters).await?;
        let within = Some((Level::Projet, projet.to_owned()));
        let year_start = Period::SchoolYear.start_of(shown.start);
        let today = self.today();

        // Every figure of the page is asked at once (the store's queries are independent, and
        // each alone leaves a core idle). Which schools had visits each week needs no unique
        // visitors (the costly part over a school year of schools).
        // (Some 100,000 rows for a project of 2,000 schools over a school year, which cost more to
        // collect and sort than to read: asked in two halves, one per core.)
        let weekly_q = |from: NaiveDate, to: NaiveDate| {
            let mut q = Self::query(Level::Ecole, Period::Week, from, to, filters).without_unique_visitors();
            q.within.clone_from(&within);
            q
        };
        let first_week = Period::Week.start_of(year_start);
        let middle = first_week + Days::new(7 * ((shown.end - first_week).num_days().max(0).unsigned_abs() / 14));
        let (early_q, late_q) = (weekly_q(year_start, middle), weekly_q(middle + Days::new(7), shown.end));
        let mut plateformes_q = Self::query(Level::Plateforme, Period::SchoolYear, year_start, year_start, filters).without_unique_visitors();
        plateformes_q.within.clone_from(&within);
        let previous_start = period.start_of(shown.start - Days::new(1));
        let (early_weeks, late_weeks, plateformes, current, previous) = tokio::try_join!(
            self.spawned_query(early_q),
            async {
                if middle + Days::new(7) > shown.end {
                    Ok(Vec::new())
                } else {
                    self.spawned_query(late_q).await
                }
            },
            self.spawned_query(plateformes_q),
            self.project_cells(projet, period, shown.start, filters),
            self.project_cells(projet, period, previous_start, filters),
        )?;

        let weekly_schools: Vec<IndicatorRow> = early_weeks.into_iter().chain(late_weeks).collect();
        // (Borrowed, not cloned.)
        let mut schools: Vec<&str> = weekly_schools.iter().map(|r| r.code.as_str()).collect();
        schools.extend(self.config.project_schools.get(projet).into_iter().flatten().map(String::as_str));
        schools.sort_unstable();
        schools.dedup();
        let plateformes: Vec<String> = plateformes.into_iter().map(|r| r.code).collect();
        let perimeter = self.perimeter(projet);
        if schools.is_empty() && plateformes.is_empty() && perimeter.is_none() {
            return Err(DashboardError::NotFound(format!("aucun trafic ni établissement connu pour le projet « {projet} »")));
        }

        // One row per school and week: the schools active in a week are its rows.
        let mut by_week: BTreeMap<NaiveDate, Vec<&str>> = BTreeMap::new();
        for r in weekly_schools.iter().filter(|r| r.visits > 0) {
            by_week.entry(r.start).or_default().push(r.code.as_str());
        }
        let mut adopted: HashSet<&str> = HashSet::with_capacity(schools.len());
        let mut adopted_inside: HashSet<&str> = HashSet::new();
        let mut deployment = Vec::new();
        #[allow(clippy::cast_precision_loss)] // shares for display
        let share = |n: usize, of: usize| if of == 0 { 0.0 } else { n as f64 / of as f64 };
        for (week, incomplete) in mondays(Period::Week.start_of(year_start), shown.end, today) {
            let active: &[&str] = by_week.get(&week).map_or(&[], Vec::as_slice);
            adopted.extend(active.iter().copied());
            let mut week_row = DeploymentWeek {
                week,
                active_schools: active.len() as u64,
                active_share: share(active.len(), schools.len()),
                adopted_schools: adopted.len() as u64,
                incomplete,
                perimeter_active: None,
                deployment_rate: None,
                perimeter_adopted: None,
                cumulative_rate: None,
            };
            if let Some(p) = perimeter {
                let inside = active.iter().filter(|uai| p.contains(uai)).count();
                adopted_inside.extend(active.iter().copied().filter(|uai| p.contains(uai)));
                week_row.perimeter_active = Some(inside as u64);
                week_row.deployment_rate = Some(share(inside, p.len()));
                week_row.perimeter_adopted = Some(adopted_inside.len() as u64);
                week_row.cumulative_rate = Some(share(adopted_inside.len(), p.len()));
            }
            deployment.push(week_row);
        }
        let project_schools = schools.len() as u64;
        let perimeter_summary = perimeter.map(|p| PerimeterSummary {
            description: p.description.clone(),
            schools: p.len() as u64,
            counts: p.counts.clone(),
            active_outside: adopted.iter().filter(|uai| !p.contains(uai)).count() as u64,
            target: p.target,
        });
        let annotations = self.annotations_of(projet);
        // With a perimeter, its schools not yet seen are candidates for the least active.
        if let Some(p) = perimeter {
            schools.extend(p.schools.iter().map(String::as_str));
            schools.sort_unstable();
            schools.dedup();
        }

        let figures = Figures::from(current.layer.shown(&current.project));
        let previous = Figures::from(previous.layer.shown(&previous.project));
        #[allow(clippy::cast_precision_loss)] // ratios for display
        let change = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64 - 1.0),
            _ => None,
        };
        let visits_change = change(figures.visits, previous.visits);
        let visitors_change = change(figures.visitors, previous.visitors);
        let breakdown_rows = |cells: &[CellId], labels: &str, value: fn(&CellId) -> Option<&String>| -> Vec<BreakdownRow> {
            cells
                .iter()
                .map(|id| {
                    let value = value(id).cloned().unwrap_or_default();
                    BreakdownRow { label: self.label(labels, &value), value, figures: Figures::from(current.layer.shown(id)) }
                })
                .collect()
        };
        let profiles = breakdown_rows(&current.profiles, "profils", |id| id.profil.as_ref());
        let services = breakdown_rows(&current.services, "services", |id| id.service.as_ref());
        let period_cells: BTreeMap<&str, &CellId> = current.schools.iter().map(|(id, row)| (row.code.as_str(), id)).collect();
        let visits = |uai: &str| period_cells.get(uai).and_then(|id| current.layer.row(id)).map_or(0, |r| r.visits);
        let mut least: Vec<(u64, TerritoryRow)> = schools
            .iter()
            .map(|uai| {
                let figures = period_cells.get(*uai).map_or_else(Figures::zero, |id| Figures::from(current.layer.shown(id)));
                let mut row = self.row(Level::Ecole, uai, figures, None);
                row.in_perimeter = perimeter.map(|p| p.contains(uai));
                (visits(uai), row)
            })
            .collect();
        least.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        let least_active = least.into_iter().take(20).map(|(_, row)| row).collect();

        Ok(ProjectView {
            projet: projet.to_owned(),
            plateformes,
            period: shown,
            schools: project_schools,
            perimeter: perimeter_summary,
            annotations,
            figures,
            previous,
            visits_change,
            visitors_change,
            deployment,
            profiles,
            services,
            least_active,
        })
    }
}
