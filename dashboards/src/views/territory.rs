//! The national analyst's view: a territory, its sub-territories and all académies ranked, its
//! weekly series against the previous school year, per-pupil rates and deployment rates (share
//! of open schools with traffic, by degree: [`super::deployment`]).

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use pipeline::model::NATION_CODE;
use pipeline::suppression::{CellId, Suppressed};
use pipeline::{IndicatorQuery, IndicatorRow, Level, Period};
use serde::Serialize;
use utoipa::ToSchema;

use super::deployment::{active_schools, Deployment};
use super::{level_param, mondays, Filters, PeriodShown, RATE_COVERAGE};
use crate::suppress::Figures;
use crate::territory::ByDegree;
use crate::{DashboardError, Dashboards};

/// One territory's line in a ranking table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TerritoryRow {
    /// Level (`academie`, `ecole`…).
    pub level: String,
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Indicators (none when under k visitors).
    pub figures: Figures,
    /// Enrolled pupils of its schools whose enrolment is known.
    pub pupils: Option<u64>,
    /// Share of its schools whose enrolment is known.
    pub enrolment_coverage: f64,
    /// Pupil visitors (profile ELEVE) per enrolled pupil, when enrolment is known for at least
    /// 90 % of its schools and the pupil figure is not suppressed.
    pub pupil_rate: Option<f64>,
    /// On a project's page with a perimeter: whether the school is in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_perimeter: Option<bool>,
    /// On the analyst's pages: its open schools with at least one visit in the period, by degree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
}

/// The analyst's view of one territory.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TerritoryView {
    /// The territory.
    pub territory: TerritoryRow,
    /// From the nation down to it: (level, code, name).
    pub path: Vec<(String, String, String)>,
    /// The period shown.
    pub period: PeriodShown,
    /// Profile filter.
    pub profil: Option<String>,
    /// Service filter.
    pub service: Option<String>,
    /// Kind-of-school filter (`ecole`, `college`, `lycee`, `autre`).
    pub degre: Option<String>,
    /// Sector filter (`public`, `prive`).
    pub secteur: Option<String>,
    /// The territories under it, most visitors first.
    pub children: Vec<TerritoryRow>,
    /// Unique visitors per school week of the school year (current, and the previous year
    /// aligned on the same school week).
    pub weekly: Vec<WeekPoint>,
    /// Unique visitors per académie over the period (for the map).
    pub academies: Vec<TerritoryRow>,
    /// The départements of the territory (every one at the nation level; below the
    /// département, the one holding it), by code, over the period (for the département map).
    pub departements: Vec<TerritoryRow>,
    /// The holiday zone of the territory, when it lies in one.
    pub zone: Option<String>,
}

/// Schools with visits in the period, by territory and degree.
type Active = BTreeMap<(Level, String), ByDegree>;

/// One week of a time series.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WeekPoint {
    /// Monday of the week.
    pub week: NaiveDate,
    /// Unique visitors that week (none when suppressed or no data).
    pub visitors: Option<u64>,
    /// The same school week one year earlier.
    pub previous_year: Option<u64>,
    /// Whether the week is still running.
    pub incomplete: bool,
}

impl Dashboards {
    /// The period shown for some filters: the one holding `debut`, or the latest day with data.
    pub async fn period_shown(&self, filters: &Filters) -> Result<PeriodShown, DashboardError> {
        let period = filters.period()?;
        let day = match filters.debut {
            Some(day) => day,
            None => self.latest_day().await?,
        };
        let (start, end) = (period.start_of(day), period.end_of(day));
        Ok(PeriodShown { kind: period.name().to_owned(), start, end, incomplete: end >= self.today() })
    }

    /// The latest day with facts (today when there are none).
    pub async fn latest_day(&self) -> Result<NaiveDate, DashboardError> {
        Ok(self.store.days().await?.last().copied().unwrap_or_else(|| self.today()))
    }

    pub(super) fn query(level: Level, period: Period, from: NaiveDate, to: NaiveDate, filters: &Filters) -> IndicatorQuery {
        let mut q = IndicatorQuery::new(level, period, from, to);
        q.profil = filters.profil.clone().filter(|s| !s.is_empty());
        q.service = filters.service.clone().filter(|s| !s.is_empty());
        q.degre.clone_from(&filters.degre);
        q.secteur.clone_from(&filters.secteur);
        q
    }

    /// A territory's line from its figures and, when a per-pupil rate makes sense for the
    /// filters and they are shown, its pupil visitors (none: no rate).
    pub(super) fn row(&self, level: Level, code: &str, figures: Figures, pupil_visitors: Option<u64>) -> TerritoryRow {
        let node = self.territories.node(level, code);
        let name = node.map_or_else(|| pipeline::names::display_name(&self.plan, &self.referential, level, code), |n| n.name.clone());
        let coverage = node.map_or(0.0, crate::territory::Node::enrolment_coverage);
        let pupils = node.filter(|n| n.schools_with_enrolment > 0).map(|n| n.pupils);
        #[allow(clippy::cast_precision_loss)] // a rate for display
        let pupil_rate = match (pupils, pupil_visitors) {
            (Some(p), Some(v)) if p > 0 && coverage >= RATE_COVERAGE => Some(v as f64 / p as f64),
            _ => None,
        };
        TerritoryRow {
            level: level_param(level).to_owned(),
            code: code.to_owned(),
            name,
            figures,
            pupils,
            enrolment_coverage: coverage,
            pupil_rate,
            in_perimeter: None,
            deployment: None,
        }
    }

    /// A territory's line read from the base set of the period: its cell under the filters, and
    /// its pupils' (profile ELEVE) when no other profile is asked.
    fn base_row(&self, base: &Suppressed, active: &Active, level: Level, code: &str, filters: &Filters) -> TerritoryRow {
        let service = filters.service.as_deref().filter(|s| !s.is_empty());
        let profil = filters.profil.as_deref().filter(|s| !s.is_empty());
        let school = filters.school().ok().flatten();
        let mut cell = CellId::new(level, code).service(service);
        if let Some((dimension, value)) = school {
            cell = cell.school(dimension, Some(value));
        }
        let figures = Figures::from(base.shown(&cell.clone().profil(profil)));
        // Hidden pupils' figures give no rate; nor does a school filter (enrolment is per
        // territory, and the pupils of one kind of school are not a cell of the base set).
        let pupils = if school.is_none() && profil.is_none_or(|p| p == "ELEVE") {
            base.shown(&cell.profil(Some("ELEVE"))).ok().map(|row| row.map_or(0, |r| r.visitors))
        } else {
            None
        };
        let mut row = self.row(level, code, figures, pupils);
        let schools = self.territories.node(level, code).map_or_else(ByDegree::default, |n| n.schools_by_degree);
        row.deployment = Some(Deployment::of(schools, active.get(&(level, code.to_owned())).copied().unwrap_or_default()));
        row
    }

    /// The analyst's view of a territory (the nation by default).
    pub async fn territory_view(&self, filters: &Filters) -> Result<TerritoryView, DashboardError> {
        // (What the maps colour changes nothing in the view.)
        let key = Filters { indicateur: None, ..filters.clone() };
        self.cache.get_or_compute(format!("territoires|{key:?}"), self.compute_territory_view(filters)).await
    }

    async fn compute_territory_view(&self, filters: &Filters) -> Result<TerritoryView, DashboardError> {
        let level: Level = match filters.niveau.as_deref() {
            None | Some("") => Level::Nation,
            Some(name) => name.parse().map_err(|e: pipeline::model::UnknownName| DashboardError::BadRequest(e.to_string()))?,
        };
        if !crate::territory::DRILL.contains(&level) {
            return Err(DashboardError::BadRequest(format!("niveau « {} » hors du découpage territorial", level.name())));
        }
        let code = if level == Level::Nation { NATION_CODE.to_owned() } else { filters.code.clone().unwrap_or_default() };
        let Some(node) = self.territories.node(level, &code) else {
            return Err(DashboardError::NotFound(format!("territoire inconnu : {} « {code} »", level.name())));
        };
        let period = filters.period()?;
        filters.school()?;
        let shown = self.period_shown(filters).await?;
        let children_keys = self.territories.children(level, &code);
        // Every figure of the period comes from its base set (computed once for all outputs), or
        // from a layer over it.
        let service = filters.service.as_deref().filter(|s| !s.is_empty());
        let (base, mut weekly) = tokio::try_join!(self.suppression(period, shown.start, service), self.weekly(level, &code, shown.end, filters))?;
        let profil = filters.profil.as_deref().filter(|s| !s.is_empty());
        let active = self.territories.active_by_degree(active_schools(&base, profil, service));
        let territory = self.base_row(&base, &active, level, &code, filters);
        // The week shown reads as in its base set (the other weeks: see docs/PRIVACY.md).
        if period == Period::Week {
            for point in weekly.iter_mut().filter(|p| p.week == shown.start) {
                point.visitors = territory.figures.visitors.or(Some(0).filter(|_| !territory.figures.suppressed));
            }
        }
        let mut children: Vec<TerritoryRow> = children_keys.iter().map(|(l, c)| self.base_row(&base, &active, *l, c, filters)).collect();
        children.sort_by(|a, b| b.figures.visitors.unwrap_or(0).cmp(&a.figures.visitors.unwrap_or(0)).then_with(|| a.name.cmp(&b.name)));
        let academies = self.territories.of_level(Level::Academie).map(|(c, _)| self.base_row(&base, &active, Level::Academie, c, filters)).collect();
        let departements =
            self.territories.departements_of(level, &code).iter().map(|c| self.base_row(&base, &active, Level::Departement, c, filters)).collect();

        let path = self
            .territories
            .path(level, &code)
            .into_iter()
            .map(|(l, c)| {
                let name = self.territories.node(l, &c).map(|n| n.name.clone()).unwrap_or_default();
                (level_param(l).to_owned(), c, name)
            })
            .collect();
        Ok(TerritoryView {
            territory,
            path,
            period: shown,
            profil: filters.profil.clone(),
            service: filters.service.clone(),
            degre: filters.degre.clone(),
            secteur: filters.secteur.clone(),
            children,
            weekly,
            academies,
            departements,
            zone: node.zone.clone(),
        })
    }

    /// Unique visitors per week of the school year holding `day`, with the previous year's
    /// same school week (weeks counted from the first Monday on or after 1 September).
    async fn weekly(&self, level: Level, code: &str, day: NaiveDate, filters: &Filters) -> Result<Vec<WeekPoint>, DashboardError> {
        let year_start = Period::SchoolYear.start_of(day);
        let previous_start = Period::SchoolYear.start_of(year_start - Days::new(1));
        let first_monday = |d: NaiveDate| Period::Week.start_of(d + Days::new(6));
        let (this_first, previous_first) = (first_monday(year_start), first_monday(previous_start));
        let series = |from: NaiveDate, to: NaiveDate| {
            let mut q = Self::query(level, Period::Week, from, to, filters);
            q.within = (level != Level::Nation).then(|| (level, code.to_owned()));
            q
        };
        let k = self.config.k;
        let visible = |r: &IndicatorRow| (r.visitors >= k).then_some(r.visitors);
        let previous_end = previous_first + Days::new((day - this_first).num_days().max(0).unsigned_abs());
        let (this, previous) =
            tokio::try_join!(self.spawned_query(series(this_first, day)), self.spawned_query(series(previous_first, previous_end)))?;
        let points_of = |rows: Vec<IndicatorRow>| -> BTreeMap<NaiveDate, Option<u64>> {
            rows.iter().filter(|r| r.code == code).map(|r| (r.start, visible(r))).collect()
        };
        let (this, previous) = (points_of(this), points_of(previous));
        let today = self.today();
        let points = mondays(this_first, day, today)
            .zip(mondays(previous_first, previous_end, today))
            .map(|((week, incomplete), (previous_week, _))| WeekPoint {
                week,
                visitors: this.get(&week).copied().unwrap_or(Some(0)),
                previous_year: previous.get(&previous_week).copied().flatten(),
                incomplete,
            })
            .collect();
        Ok(points)
    }
}
