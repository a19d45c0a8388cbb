//! The figures behind each page, computed once per request from the `RollupStore` and shared by
//! the HTML page, its CSV download, its charts and the JSON API (so they always agree). Every
//! figure goes through [`Figures::of`]: cells under k unique visitors carry no number.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use pipeline::model::NATION_CODE;
use pipeline::{Breakdown, IndicatorQuery, IndicatorRow, Level, Period};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::suppress::Figures;
use crate::{DashboardError, Dashboards};

/// Filters shared by every view; each lives in the URL.
#[derive(Debug, Clone, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// `semaine` (default), `mois` or `annee` (school year).
    #[serde(default, deserialize_with = "empty_is_none")]
    pub periode: Option<String>,
    /// A day in the period shown (`YYYY-MM-DD`); default: the latest day with data.
    #[serde(default, deserialize_with = "empty_is_none")]
    pub debut: Option<NaiveDate>,
    /// Only visits of this profile (`ELEVE`, `ENSEIGNANT`…).
    #[serde(default, deserialize_with = "empty_is_none")]
    pub profil: Option<String>,
    /// Only visits that used this service.
    #[serde(default, deserialize_with = "empty_is_none")]
    pub service: Option<String>,
    /// Territory level: `nation`, `region`, `academie`, `departement`, `circonscription`, `ecole`.
    #[serde(default, deserialize_with = "empty_is_none")]
    pub niveau: Option<String>,
    /// Territory code (académie name, département code, UAI…).
    #[serde(default, deserialize_with = "empty_is_none")]
    pub code: Option<String>,
}

/// An empty field (`debut=`, as a browser sends every field of the filter form) means no filter.
fn empty_is_none<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let raw: Option<String> = Option::deserialize(deserializer)?;
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => value.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

impl Filters {
    /// The kind of period asked.
    pub fn period(&self) -> Result<Period, DashboardError> {
        match self.periode.as_deref().unwrap_or("semaine") {
            "semaine" => Ok(Period::Week),
            "mois" => Ok(Period::Month),
            "annee" => Ok(Period::SchoolYear),
            other => Err(DashboardError::BadRequest(format!("période inconnue « {other} » (semaine, mois ou annee)"))),
        }
    }

    /// The URL query of these filters with some of them replaced (empty values dropped).
    pub fn with(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut pairs: BTreeMap<&str, String> = BTreeMap::new();
        let debut = self.debut.map(|d| d.to_string());
        for (name, value) in [
            ("periode", self.periode.as_deref()),
            ("debut", debut.as_deref()),
            ("profil", self.profil.as_deref()),
            ("service", self.service.as_deref()),
            ("niveau", self.niveau.as_deref()),
            ("code", self.code.as_deref()),
        ] {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                pairs.insert(name, v.to_owned());
            }
        }
        for (name, value) in changes {
            match value.filter(|v| !v.is_empty()) {
                Some(v) => pairs.insert(name, v.to_owned()),
                None => pairs.remove(name),
            };
        }
        let mut out = form_urlencoded_pairs(&pairs);
        if !out.is_empty() {
            out.insert(0, '?');
        }
        out
    }
}

fn form_urlencoded_pairs(pairs: &BTreeMap<&str, String>) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.bytes()
                    .map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
                    .collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The French URL name of a level.
pub fn level_param(level: Level) -> &'static str {
    level.name()
}

/// The French label of a level.
pub fn level_label(level: Level) -> &'static str {
    match level {
        Level::Ecole => "École ou établissement",
        Level::Circonscription => "Circonscription",
        Level::Departement => "Département",
        Level::Academie => "Académie",
        Level::Region => "Région académique",
        Level::Nation => "France",
        Level::Projet => "Projet ENT",
        Level::Plateforme => "Plateforme",
        Level::Exploitant => "Exploitant",
    }
}

/// The French label of a kind of period.
pub fn period_label(period: Period) -> &'static str {
    match period {
        Period::Day => "jour",
        Period::Week => "semaine",
        Period::Month => "mois",
        Period::SchoolYear => "année scolaire",
    }
}

/// The period shown: its kind, bounds and whether it is still running.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeriodShown {
    /// `week`, `month` or `school_year`.
    pub kind: String,
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
    /// True while the period is not over: its figures will still grow.
    pub incomplete: bool,
}

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
    /// The territories under it, most visitors first.
    pub children: Vec<TerritoryRow>,
    /// Unique visitors per school week of the school year (current, and the previous year
    /// aligned on the same school week).
    pub weekly: Vec<WeekPoint>,
    /// Unique visitors per académie over the period (for the map).
    pub academies: Vec<TerritoryRow>,
    /// The holiday zone of the territory, when it lies in one.
    pub zone: Option<String>,
}

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

/// The Mondays from `first` (a Monday) through `last`, each with whether its week is still
/// running on `today`.
fn mondays(first: NaiveDate, last: NaiveDate, today: NaiveDate) -> impl Iterator<Item = (NaiveDate, bool)> {
    std::iter::successors(Some(first), |w| w.checked_add_days(Days::new(7)))
        .take_while(move |w| *w <= last)
        .map(move |w| (w, w + Days::new(6) >= today))
}

/// The 90 % enrolment coverage under which no per-pupil rate is given.
pub const RATE_COVERAGE: f64 = 0.9;

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

    fn query(level: Level, period: Period, from: NaiveDate, to: NaiveDate, filters: &Filters) -> IndicatorQuery {
        let mut q = IndicatorQuery::new(level, period, from, to);
        q.profil = filters.profil.clone().filter(|s| !s.is_empty());
        q.service = filters.service.clone().filter(|s| !s.is_empty());
        q
    }

    /// A territory's line; `pupils` holds the pupil (ELEVE) cells of its level when a per-pupil
    /// rate makes sense for the filters (`pupil_cells`: none under another profile filter).
    fn row(&self, level: Level, code: &str, cell: Option<&IndicatorRow>, pupil_cells: Option<&BTreeMap<String, IndicatorRow>>) -> TerritoryRow {
        let node = self.territories.node(level, code);
        let name = node.map_or_else(|| pipeline::names::display_name(&self.plan, &self.referential, level, code), |n| n.name.clone());
        let figures = cell.map_or_else(Figures::zero, |c| Figures::of(c, self.config.k));
        let coverage = node.map_or(0.0, crate::territory::Node::enrolment_coverage);
        let pupils = node.filter(|n| n.schools_with_enrolment > 0).map(|n| n.pupils);
        let pupil_visitors = match pupil_cells.map(|p| p.get(code)) {
            Some(None) => Some(0),
            Some(Some(c)) if c.visitors >= self.config.k => Some(c.visitors),
            // Not computed for these filters, or too few pupils to show.
            None | Some(Some(_)) => None,
        };
        #[allow(clippy::cast_precision_loss)] // a rate for display
        let pupil_rate = match (pupils, pupil_visitors) {
            (Some(p), Some(v)) if p > 0 && coverage >= RATE_COVERAGE => Some(v as f64 / p as f64),
            _ => None,
        };
        TerritoryRow { level: level_param(level).to_owned(), code: code.to_owned(), name, figures, pupils, enrolment_coverage: coverage, pupil_rate }
    }

    /// Cells of one level within a territory for one period, by code; and the same for pupils.
    async fn cells(
        &self,
        level: Level,
        within: Option<(Level, String)>,
        shown: &PeriodShown,
        period: Period,
        filters: &Filters,
    ) -> Result<(BTreeMap<String, IndicatorRow>, Option<BTreeMap<String, IndicatorRow>>), DashboardError> {
        let mut q = Self::query(level, period, shown.start, shown.start, filters);
        q.within = within.filter(|(l, _)| *l != Level::Nation);
        let all = self.store.query(&q).await?.into_iter().map(|r| (r.code.clone(), r)).collect();
        let pupils = if filters.profil.as_deref().is_none_or(|p| p == "ELEVE") {
            q.profil = Some("ELEVE".into());
            Some(self.store.query(&q).await?.into_iter().map(|r| (r.code.clone(), r)).collect())
        } else {
            None
        };
        Ok((all, pupils))
    }

    /// The analyst's view of a territory (the nation by default).
    pub async fn territory_view(&self, filters: &Filters) -> Result<TerritoryView, DashboardError> {
        self.cache.get_or_compute(format!("territoires|{filters:?}"), self.compute_territory_view(filters)).await
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
        let shown = self.period_shown(filters).await?;
        let (own, own_pupils) = self.cells(level, Some((level, code.clone())), &shown, period, filters).await?;
        let territory = self.row(level, &code, own.get(&code), own_pupils.as_ref());

        let children_keys = self.territories.children(level, &code);
        let child_levels: BTreeSet<Level> = children_keys.iter().map(|(l, _)| *l).collect();
        let mut children = Vec::new();
        for child_level in child_levels {
            let (cells, pupils) = self.cells(child_level, Some((level, code.clone())), &shown, period, filters).await?;
            for (_, child_code) in children_keys.iter().filter(|(l, _)| *l == child_level) {
                children.push(self.row(child_level, child_code, cells.get(child_code), pupils.as_ref()));
            }
        }
        children.sort_by(|a, b| b.figures.visitors.unwrap_or(0).cmp(&a.figures.visitors.unwrap_or(0)).then_with(|| a.name.cmp(&b.name)));

        let (academy_cells, academy_pupils) = self.cells(Level::Academie, None, &shown, period, filters).await?;
        let academies = self
            .territories
            .of_level(Level::Academie)
            .map(|(c, _)| self.row(Level::Academie, c, academy_cells.get(c), academy_pupils.as_ref()))
            .collect();

        let weekly = self.weekly(level, &code, shown.end, filters).await?;
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
            children,
            weekly,
            academies,
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
        let this: BTreeMap<NaiveDate, Option<u64>> =
            self.store.query(&series(this_first, day)).await?.iter().filter(|r| r.code == code).map(|r| (r.start, visible(r))).collect();
        let previous_end = previous_first + Days::new((day - this_first).num_days().max(0).unsigned_abs());
        let previous: BTreeMap<NaiveDate, Option<u64>> =
            self.store.query(&series(previous_first, previous_end)).await?.iter().filter(|r| r.code == code).map(|r| (r.start, visible(r))).collect();
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

/// Breakdown shares of one project (profiles, services).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BreakdownRow {
    /// The value (`ELEVE`, `MESSAGERIE`…).
    pub value: String,
    /// Its label in the plan.
    pub label: String,
    /// Indicators (none under k visitors).
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
    fn label(&self, nomenclature: &str, code: &str) -> String {
        self.plan
            .nomenclatures()
            .get(nomenclature)
            .and_then(|n| n.values.iter().find(|v| v.code == code))
            .map_or_else(|| code.to_owned(), |v| v.label.clone())
    }

    /// The project owner's view of a project.
    pub async fn project_view(&self, projet: &str, filters: &Filters) -> Result<ProjectView, DashboardError> {
        self.cache.get_or_compute(format!("projet|{projet}|{filters:?}"), self.compute_project_view(projet, filters)).await
    }

    #[allow(clippy::too_many_lines)] // one view, read top to bottom
    async fn compute_project_view(&self, projet: &str, filters: &Filters) -> Result<ProjectView, DashboardError> {
        let period = filters.period()?;
        let shown = self.period_shown(filters).await?;
        let within = Some((Level::Projet, projet.to_owned()));
        let year_start = Period::SchoolYear.start_of(shown.start);
        let today = self.today();

        let mut q = Self::query(Level::Ecole, Period::Week, year_start, shown.end, filters);
        q.within.clone_from(&within);
        let weekly_schools = self.store.query(&q).await?;
        let mut schools: BTreeSet<String> = weekly_schools.iter().map(|r| r.code.clone()).collect();
        schools.extend(self.config.project_schools.get(projet).into_iter().flatten().cloned());
        let mut q = Self::query(Level::Plateforme, Period::SchoolYear, year_start, year_start, filters);
        q.within.clone_from(&within);
        let plateformes: Vec<String> = self.store.query(&q).await?.into_iter().map(|r| r.code).collect();
        if schools.is_empty() && plateformes.is_empty() {
            return Err(DashboardError::NotFound(format!("aucun trafic ni établissement connu pour le projet « {projet} »")));
        }

        let mut by_week: BTreeMap<NaiveDate, BTreeSet<&str>> = BTreeMap::new();
        for r in weekly_schools.iter().filter(|r| r.visits > 0) {
            by_week.entry(r.start).or_default().insert(r.code.as_str());
        }
        let mut adopted: BTreeSet<&str> = BTreeSet::new();
        let mut deployment = Vec::new();
        for (week, incomplete) in mondays(Period::Week.start_of(year_start), shown.end, today) {
            let active = by_week.get(&week).cloned().unwrap_or_default();
            adopted.extend(active.iter().copied());
            #[allow(clippy::cast_precision_loss)] // a share for display
            let share = if schools.is_empty() { 0.0 } else { active.len() as f64 / schools.len() as f64 };
            deployment.push(DeploymentWeek {
                week,
                active_schools: active.len() as u64,
                active_share: share,
                adopted_schools: adopted.len() as u64,
                incomplete,
            });
        }

        let project_cell = |start: NaiveDate| {
            let mut q = Self::query(Level::Projet, period, start, start, filters);
            q.within.clone_from(&within);
            q
        };
        let k = self.config.k;
        let current = self.store.query(&project_cell(shown.start)).await?;
        let previous_start = period.start_of(shown.start - Days::new(1));
        let previous = self.store.query(&project_cell(previous_start)).await?;
        let figures = current.first().map_or_else(Figures::zero, |r| Figures::of(r, k));
        let previous = previous.first().map_or_else(Figures::zero, |r| Figures::of(r, k));
        #[allow(clippy::cast_precision_loss)] // ratios for display
        let change = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64 - 1.0),
            _ => None,
        };
        let visits_change = change(figures.visits, previous.visits);
        let visitors_change = change(figures.visitors, previous.visitors);

        let breakdown = |by: Breakdown| {
            let mut q = project_cell(shown.start).by(by);
            q.within.clone_from(&within);
            q
        };
        let profiles = self
            .store
            .query(&breakdown(Breakdown::Profil))
            .await?
            .iter()
            .map(|r| {
                let value = r.breakdown.clone().map(|b| b.1).unwrap_or_default();
                BreakdownRow { label: self.label("profils", &value), value, figures: Figures::of(r, k) }
            })
            .collect();
        let services = self
            .store
            .query(&breakdown(Breakdown::Service))
            .await?
            .iter()
            .map(|r| {
                let value = r.breakdown.clone().map(|b| b.1).unwrap_or_default();
                BreakdownRow { label: self.label("services", &value), value, figures: Figures::of(r, k) }
            })
            .collect();

        let mut q = Self::query(Level::Ecole, period, shown.start, shown.start, filters);
        q.within.clone_from(&within);
        let period_cells: BTreeMap<String, IndicatorRow> = self.store.query(&q).await?.into_iter().map(|r| (r.code.clone(), r)).collect();
        let mut least: Vec<(u64, TerritoryRow)> = schools
            .iter()
            .map(|uai| (period_cells.get(uai).map_or(0, |r| r.visits), self.row(Level::Ecole, uai, period_cells.get(uai), None)))
            .collect();
        least.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
        let least_active = least.into_iter().take(20).map(|(_, row)| row).collect();

        Ok(ProjectView {
            projet: projet.to_owned(),
            plateformes,
            period: shown,
            schools: schools.len() as u64,
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

/// Refusals of one week for one reason code.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectWeek {
    /// Monday.
    pub week: NaiveDate,
    /// Hits accepted that week.
    pub accepted: u64,
    /// Events refused that week (whatever their reasons).
    pub refused: u64,
    /// Share refused: refused ÷ (accepted + refused).
    pub refused_share: f64,
    /// Refused events per reason code (an event with two reasons counts under both).
    pub by_code: BTreeMap<String, u64>,
    /// Whether the week is still running.
    pub incomplete: bool,
}

/// A refused value of a field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvalidValue {
    /// Field (`uai`, `service`…).
    pub field: String,
    /// Value refused.
    pub value: Option<String>,
    /// Reason code.
    pub code: String,
    /// Refused events.
    pub events: u64,
}

/// A service whose tagging changed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceTagging {
    /// Service code.
    pub service: String,
    /// Its label in the plan.
    pub label: String,
    /// Hits the week before.
    pub previous_week_hits: u64,
    /// Hits the last complete week.
    pub last_week_hits: u64,
}

/// One refused event, for the editor to fix the tag.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectedHit {
    /// Receive time (RFC 3339).
    pub received: String,
    /// Event name.
    pub event: String,
    /// Reasons: code, field, value.
    pub reasons: Vec<(String, String, Option<String>)>,
    /// Properties sent (user ids pseudonymized at the collector).
    pub properties: String,
}

/// The ENT editor's conformance view of one platform.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConformanceView {
    /// Platform.
    pub plateforme: String,
    /// School year shown: first and last day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// Per week.
    pub weeks: Vec<RejectWeek>,
    /// Most refused values per field (at most 10 per field).
    pub invalid_values: Vec<InvalidValue>,
    /// Refusals about the UAI (unknown, badly formed or wrongly lettered).
    pub uai_issues: Vec<InvalidValue>,
    /// TIERS clicks or pages refused for lack of an OUTIL, over the year.
    pub tiers_without_outil: u64,
    /// Services of the plan never tagged this school year.
    pub never_tagged: Vec<String>,
    /// Services tagged the week before the last complete week and not at all in it.
    pub stopped: Vec<ServiceTagging>,
    /// Hits per plan version this school year.
    pub plan_versions: BTreeMap<String, u64>,
    /// The latest refused events.
    pub sample: Vec<RejectedHit>,
}

impl Dashboards {
    /// The conformance view of one platform over the school year holding `debut` (or the
    /// latest day with data).
    pub async fn conformance_view(&self, plateforme: &str, filters: &Filters) -> Result<ConformanceView, DashboardError> {
        self.cache.get_or_compute(format!("conformite|{plateforme}|{filters:?}"), self.compute_conformance_view(plateforme, filters)).await
    }

    #[allow(clippy::too_many_lines)] // one view, read top to bottom
    async fn compute_conformance_view(&self, plateforme: &str, filters: &Filters) -> Result<ConformanceView, DashboardError> {
        let day = match filters.debut {
            Some(d) => d,
            None => self
                .latest_day()
                .await?
                .max(self.store.rejected_events(self.today() - Days::new(7), self.today()).await?.last().map_or(NaiveDate::MIN, |r| r.0)),
        };
        let from = Period::SchoolYear.start_of(day);
        let to = day;
        let tagging: Vec<_> = self.store.tagging(from, to).await?.into_iter().filter(|t| t.plateforme == plateforme).collect();
        let counts: Vec<_> = self.store.reject_counts(from, to).await?.into_iter().filter(|c| c.plateforme.as_deref() == Some(plateforme)).collect();
        let refused: Vec<_> = self.store.rejected_events(from, to).await?.into_iter().filter(|r| r.1.as_deref() == Some(plateforme)).collect();

        let week_of = |d: NaiveDate| Period::Week.start_of(d);
        let today = self.today();
        let mut weeks: BTreeMap<NaiveDate, RejectWeek> = mondays(week_of(from), to, today)
            .map(|(week, incomplete)| (week, RejectWeek { week, accepted: 0, refused: 0, refused_share: 0.0, by_code: BTreeMap::new(), incomplete }))
            .collect();
        let mut services_by_week: BTreeMap<NaiveDate, BTreeMap<&str, u64>> = BTreeMap::new();
        let mut plan_versions: BTreeMap<String, u64> = BTreeMap::new();
        for t in &tagging {
            if let Some(w) = weeks.get_mut(&week_of(t.day)) {
                w.accepted += t.hits;
            }
            *services_by_week.entry(week_of(t.day)).or_default().entry(t.service.as_str()).or_default() += t.hits;
            *plan_versions.entry(t.plan_version.clone()).or_default() += t.hits;
        }
        for (d, _, events) in &refused {
            if let Some(w) = weeks.get_mut(&week_of(*d)) {
                w.refused += events;
            }
        }
        let mut values: BTreeMap<(String, Option<String>, String), u64> = BTreeMap::new();
        for c in &counts {
            if let Some(w) = weeks.get_mut(&week_of(c.day)) {
                *w.by_code.entry(c.code.clone()).or_default() += c.events;
            }
            *values.entry((c.field.clone(), c.value.clone(), c.code.clone())).or_default() += c.events;
        }
        #[allow(clippy::cast_precision_loss)] // shares for display
        for w in weeks.values_mut() {
            let total = (w.accepted + w.refused) as f64;
            w.refused_share = if total > 0.0 { w.refused as f64 / total } else { 0.0 };
        }
        let mut invalid: Vec<InvalidValue> =
            values.into_iter().map(|((field, value, code), events)| InvalidValue { field, value, code, events }).collect();
        invalid.sort_by(|a, b| a.field.cmp(&b.field).then(b.events.cmp(&a.events)).then_with(|| a.value.cmp(&b.value)));
        let mut invalid_values = Vec::new();
        let mut per_field: BTreeMap<String, usize> = BTreeMap::new();
        for v in &invalid {
            let n = per_field.entry(v.field.clone()).or_default();
            if *n < 10 {
                invalid_values.push(v.clone());
                *n += 1;
            }
        }
        let uai_issues = invalid.iter().filter(|v| v.field == "uai").cloned().collect();
        let tiers_without_outil = invalid.iter().filter(|v| v.code == "tiers_without_outil").map(|v| v.events).sum();

        let seen: BTreeSet<&str> = tagging.iter().map(|t| t.service.as_str()).collect();
        let never_tagged = self
            .plan
            .nomenclatures()
            .get("services")
            .map(|n| n.values.iter().filter(|v| !seen.contains(v.code.as_str())).map(|v| v.code.clone()).collect())
            .unwrap_or_default();
        // The last complete week and the one before it.
        let last_complete = week_of(today) - Days::new(7);
        let last_complete = last_complete.min(week_of(to));
        let before = last_complete - Days::new(7);
        let empty = BTreeMap::new();
        let (last_hits, before_hits) = (services_by_week.get(&last_complete).unwrap_or(&empty), services_by_week.get(&before).unwrap_or(&empty));
        let stopped = before_hits
            .iter()
            .filter(|(s, n)| **n > 0 && !last_hits.contains_key(*s))
            .map(|(s, n)| ServiceTagging { service: (*s).to_owned(), label: self.label("services", s), previous_week_hits: *n, last_week_hits: 0 })
            .collect();

        let sample = self
            .store
            .reject_sample(plateforme, from, to, 20)
            .await?
            .into_iter()
            .map(|s| RejectedHit {
                received: chrono::DateTime::from_timestamp_millis(s.received_ms).unwrap_or_default().to_rfc3339(),
                event: s.event,
                reasons: s.reasons,
                properties: s.properties,
            })
            .collect();
        Ok(ConformanceView {
            plateforme: plateforme.to_owned(),
            from,
            to,
            weeks: weeks.into_values().collect(),
            invalid_values,
            uai_issues,
            tiers_without_outil,
            never_tagged,
            stopped,
            plan_versions,
            sample,
        })
    }
}
