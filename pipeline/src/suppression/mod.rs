//! Small-cell suppression shared by every output (dashboard pages, CSV files, charts, the map,
//! the JSON API and `dnma export opendata`): one rule ([`rule`]) applied to one complete set of
//! cells per period and filters, so that a figure hidden in one output cannot be derived from
//! another. See `docs/PRIVACY.md`.
//!
//! The base set of cells ([`Suppressed::territorial`]) is, for one period and one service filter
//! (or none), every territory of every level (nation, régions académiques, académies,
//! départements, circonscriptions, schools) for all visits, for each profile, for each kind of
//! school (école, collège, lycée…) and for each sector. Its groups are each territory with the
//! territories directly under it (in every column), and each territory's total with its
//! profiles, with its kinds, with its sectors. These columns are decided in one table, not as
//! layers over one another: a layer cannot hide what the base shows, and a layer's cell equal to
//! a shown one (a territory's only kind of school is the territory) then gives its neighbours
//! away (`attack.rs` finds such cases; crossing profiles with kinds, the same holds). Outputs
//! that show more cells (an ENT project and its schools, a school by device in the open data)
//! add a layer ([`Suppressed::layer`]) whose groups may hide their own cells but never change
//! the base: the base stays the same for every
//! output. A hidden cell loses every figure (visits, visitors, page views, clicks, durations).

mod rule;

#[cfg(test)]
mod attack;

use std::collections::{BTreeMap, BTreeSet};

// (Hashed with foldhash, not SipHash: a base set hashes tens of thousands of cells per request.)
use datafusion::common::{HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use tagging_plan::{Plan, Referential};

pub use rule::{Group, Outcome, Table};

use crate::error::PipelineError;
use crate::model::{Breakdown, Level, Period, NATION_CODE};
use crate::query::{IndicatorQuery, IndicatorRow};
use crate::store::RollupStore;

/// How a hidden figure reads in pages, CSV files and the open data: the same for a cell under k
/// and for a cell hidden with it, so that a reader cannot tell which is which.
pub const HIDDEN: &str = "secret";

/// The territorial levels of the base set, finest first.
pub const TERRITORIAL: [Level; 6] = [Level::Ecole, Level::Circonscription, Level::Departement, Level::Academie, Level::Region, Level::Nation];

/// One published cell: a territory or ENT entity, the filters it was computed under and its
/// breakdown value. A profile (or service) reached by a filter and by a breakdown is one cell.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellId {
    /// Level.
    pub level: Level,
    /// Code (UAI, département code, académie name, project…).
    pub code: String,
    /// The ENT project (or platform) a school's cell is restricted to, when it is.
    pub within: Option<(Level, String)>,
    /// Profile, by filter or breakdown.
    pub profil: Option<String>,
    /// Service, by filter or breakdown.
    pub service: Option<String>,
    /// The kind of the schools (`ecole`, `college`…), by filter or breakdown.
    pub degre: Option<String>,
    /// The sector of the schools (`public`, `prive`…), by filter or breakdown.
    pub secteur: Option<String>,
    /// Another breakdown (tool, device, OS, browser) and its value.
    pub breakdown: Option<(Breakdown, String)>,
}

impl CellId {
    /// A cell of all visits.
    pub fn new(level: Level, code: &str) -> CellId {
        CellId { level, code: code.to_owned(), within: None, profil: None, service: None, degre: None, secteur: None, breakdown: None }
    }

    /// The same under a profile (none: all profiles).
    #[must_use]
    pub fn profil(mut self, profil: Option<&str>) -> CellId {
        self.profil = profil.map(str::to_owned);
        self
    }

    /// The same under a service (none: all services).
    #[must_use]
    pub fn service(mut self, service: Option<&str>) -> CellId {
        self.service = service.map(str::to_owned);
        self
    }

    /// The same within schools of a kind or sector ([`Breakdown::Degre`] or
    /// [`Breakdown::Secteur`]; none: all schools).
    #[must_use]
    pub fn school(mut self, dimension: Breakdown, value: Option<&str>) -> CellId {
        let value = value.map(str::to_owned);
        match dimension {
            Breakdown::Degre => self.degre = value,
            Breakdown::Secteur => self.secteur = value,
            _ => {}
        }
        self
    }

    /// The cell of a row answered to a query.
    pub fn of(query: &IndicatorQuery, row: &IndicatorRow) -> CellId {
        let mut id = CellId::new(row.level, &row.code).profil(query.profil.as_deref()).service(query.service.as_deref());
        for (dimension, value) in query.school_filters() {
            id = id.school(dimension, Some(value));
        }
        id.within = query.within.clone().filter(|(l, _)| matches!(l, Level::Projet | Level::Plateforme | Level::Exploitant) && *l != row.level);
        match &row.breakdown {
            Some((Breakdown::Profil, v)) => id.profil = Some(v.clone()),
            Some((Breakdown::Service, v)) => id.service = Some(v.clone()),
            Some((b, v)) if b.is_school() => id = id.school(*b, Some(v)),
            Some((b, v)) => id.breakdown = Some((*b, v.clone())),
            None => {}
        }
        id
    }
}

/// The queries of the base set of one period (its first day `start`) under a service filter:
/// every territory for all visits, per profile, per kind of school and per sector.
pub fn territorial_queries(period: Period, start: NaiveDate, service: Option<&str>) -> Vec<IndicatorQuery> {
    TERRITORIAL
        .iter()
        .flat_map(|level| {
            let mut q = IndicatorQuery::new(*level, period, start, start);
            q.service = service.map(str::to_owned);
            [q.clone().by(Breakdown::Profil), q.clone().by(Breakdown::Degre), q.clone().by(Breakdown::Secteur), q]
        })
        .collect()
}

/// The territory each territory of `ids` lies directly in (schools placed as the pipeline
/// places their hits: in their circonscription, else their département).
fn territory_parents<'a>(
    plan: &Plan,
    referential: &Referential,
    ids: impl Iterator<Item = &'a CellId>,
) -> BTreeMap<(Level, String), (Level, String)> {
    let mut parents: BTreeMap<(Level, String), (Level, String)> = BTreeMap::new();
    for academie in plan.territories().academies() {
        parents.insert((Level::Academie, academie.nom.clone()), (Level::Region, academie.region.clone()));
        parents.insert((Level::Region, academie.region.clone()), (Level::Nation, NATION_CODE.to_owned()));
        for departement in &academie.departements {
            parents.insert((Level::Departement, departement.code.clone()), (Level::Academie, academie.nom.clone()));
        }
    }
    for id in ids.filter(|id| id.level == Level::Ecole && id.within.is_none()) {
        if parents.contains_key(&(Level::Ecole, id.code.clone())) {
            continue;
        }
        let Ok(location) = referential.locate(plan, &id.code) else { continue };
        let departement = (Level::Departement, location.departement_code.to_owned());
        let parent = match location.school.and_then(|s| s.circonscription.clone()).filter(|c| !c.is_empty()) {
            Some(c) => {
                parents.entry((Level::Circonscription, c.clone())).or_insert(departement);
                (Level::Circonscription, c)
            }
            None => departement,
        };
        parents.insert((Level::Ecole, id.code.clone()), parent);
    }
    parents
}

/// The base set of one period under a service filter, read from a store (its queries one after
/// the other; the dashboards run [`territorial_queries`] at once and call
/// [`Suppressed::territorial`] themselves).
pub async fn base(
    store: &dyn RollupStore,
    plan: &Plan,
    referential: &Referential,
    period: Period,
    start: NaiveDate,
    service: Option<&str>,
    k: u64,
) -> Result<Suppressed, PipelineError> {
    let mut all = Vec::new();
    for query in territorial_queries(period, start, service) {
        let rows = store.query(&query).await?;
        all.extend(cells(&query, rows));
    }
    Ok(Suppressed::territorial(plan, referential, all, k))
}

/// The rows of a query as cells.
pub fn cells(query: &IndicatorQuery, rows: Vec<IndicatorRow>) -> impl Iterator<Item = (CellId, IndicatorRow)> + '_ {
    rows.into_iter().map(move |row| (CellId::of(query, &row), row))
}

/// The same measures (a school's cell within its only project is its cell).
fn same_figures(a: &IndicatorRow, b: &IndicatorRow) -> bool {
    (a.visits, a.visitors, a.page_views, a.clicks, a.duration_s) == (b.visits, b.visitors, b.page_views, b.clicks, b.duration_s)
}

/// A column of the base set: all visits, one profile, one kind of school or one sector.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    profil: Option<String>,
    degre: Option<String>,
    secteur: Option<String>,
}

/// A set of cells with the ones hidden by primary and secondary suppression.
#[derive(Debug, Clone, Default)]
pub struct Suppressed {
    k: u64,
    rows: HashMap<CellId, IndicatorRow>,
    hidden: HashSet<CellId>,
    base: Option<Arc<Suppressed>>,
    unprotected: usize,
}

impl Suppressed {
    /// The base set: the cells of [`territorial_queries`] (all of them, never a page's
    /// selection), grouped by the territory tree of the plan and the referential.
    pub fn territorial(plan: &Plan, referential: &Referential, cells: impl IntoIterator<Item = (CellId, IndicatorRow)>, k: u64) -> Suppressed {
        let rows: HashMap<CellId, IndicatorRow> = cells.into_iter().collect();
        let parents = territory_parents(plan, referential, rows.keys());
        let mut table = Table::new();
        // The columns of the table: all visits, each profile, each kind of school, each sector.
        let mut columns: BTreeSet<Column> = BTreeSet::from([Column::default()]);
        let mut services: BTreeSet<Option<String>> = BTreeSet::new();
        let mut territories: BTreeSet<(Level, String)> = BTreeSet::new();
        for (id, row) in &rows {
            table.cell(id.clone(), row.visitors);
            columns.insert(Column { profil: id.profil.clone(), degre: id.degre.clone(), secteur: id.secteur.clone() });
            services.insert(id.service.clone());
            territories.insert((id.level, id.code.clone()));
        }
        let mut children: BTreeMap<&(Level, String), Vec<&(Level, String)>> = BTreeMap::new();
        for territory in &territories {
            if let Some(parent) = parents.get(territory) {
                children.entry(parent).or_default().push(territory);
            }
        }
        let at = |(level, code): &(Level, String), column: &Column, service: &Option<String>| {
            CellId::new(*level, code)
                .profil(column.profil.as_deref())
                .service(service.as_deref())
                .school(Breakdown::Degre, column.degre.as_deref())
                .school(Breakdown::Secteur, column.secteur.as_deref())
        };
        let all = Column::default();
        for service in &services {
            for column in &columns {
                for (parent, under) in &children {
                    table.group(at(parent, column, service), under.iter().map(|c| at(c, column, service)).collect());
                }
            }
            // Each territory's total with its profiles, with its kinds of school, with its
            // sectors: each a partition of its visits.
            let partitions: [Vec<&Column>; 3] = [
                columns.iter().filter(|c| c.profil.is_some()).collect(),
                columns.iter().filter(|c| c.degre.is_some()).collect(),
                columns.iter().filter(|c| c.secteur.is_some()).collect(),
            ];
            for territory in &territories {
                for parts in partitions.iter().filter(|p| !p.is_empty()) {
                    table.group(at(territory, &all, service), parts.iter().map(|c| at(territory, c, service)).collect());
                }
            }
        }
        Self::decided(&table, rows, k, None)
    }

    fn decided(table: &Table<CellId>, rows: HashMap<CellId, IndicatorRow>, k: u64, base: Option<Arc<Suppressed>>) -> Suppressed {
        let outcome = table.suppress(k);
        if !outcome.unprotected.is_empty() {
            tracing::warn!(groups = outcome.unprotected.len(), "small cells left alone in their group: no other cell can be hidden with them");
        }
        let unprotected = outcome.unprotected.len();
        // (A layer keeps only its own cells: the base's stay the base's.)
        let hidden = outcome.hidden.into_iter().filter(|id| base.is_none() || rows.contains_key(id)).collect();
        Suppressed { k, rows, hidden, base, unprotected }
    }

    /// A layer over this set: more cells and groups, decided with every cell of this set kept as
    /// it is (never chosen). `link` gives the cell of this set a new cell is the same as, if any.
    pub fn layer(self: &Arc<Self>, cells: impl IntoIterator<Item = (CellId, IndicatorRow)>, groups: Vec<Group<CellId>>) -> Suppressed {
        let rows: HashMap<CellId, IndicatorRow> = cells.into_iter().filter(|(id, _)| self.row(id).is_none()).collect();
        let mut table = Table::new();
        for (id, row) in &rows {
            table.cell(id.clone(), row.visitors);
        }
        for group in &groups {
            for id in std::iter::once(&group.total).chain(&group.parts) {
                if let Some(row) = self.row(id) {
                    table.freeze(id.clone(), row.visitors, self.is_hidden(id));
                }
            }
        }
        for group in groups {
            table.group(group.total, group.parts);
        }
        Self::decided(&table, rows, self.k, Some(Arc::clone(self)))
    }

    /// The cell of this set a school's cell restricted to a project stands for, when its figures
    /// are that cell's (the school has no traffic outside the project): then it is that cell.
    pub fn link(&self, id: CellId, row: &IndicatorRow) -> CellId {
        let unrestricted = CellId { within: None, ..id.clone() };
        match self.row(&unrestricted) {
            Some(base) if same_figures(base, row) => unrestricted,
            _ => id,
        }
    }

    /// The threshold k.
    pub fn k(&self) -> u64 {
        self.k
    }

    /// A cell's row (none: no visit).
    pub fn row(&self, id: &CellId) -> Option<&IndicatorRow> {
        self.rows.get(id).or_else(|| self.base.as_ref().and_then(|b| b.row(id)))
    }

    /// Whether a cell is hidden (a cell without visit never is).
    pub fn is_hidden(&self, id: &CellId) -> bool {
        self.hidden.contains(id) || self.base.as_ref().is_some_and(|b| b.is_hidden(id))
    }

    /// A cell's row when it may be shown (`Err(())`: hidden; `Ok(None)`: no visit).
    #[allow(clippy::result_unit_err)] // hidden is not an error to describe
    pub fn shown(&self, id: &CellId) -> Result<Option<&IndicatorRow>, ()> {
        if self.is_hidden(id) {
            Err(())
        } else {
            Ok(self.row(id))
        }
    }

    /// The cells of a level with visits in this layer (the base's not listed).
    pub fn cells_of(&self, level: Level) -> impl Iterator<Item = &CellId> {
        self.rows.keys().filter(move |id| id.level == level)
    }

    /// Cells hidden in this layer (the base's not counted).
    pub fn hidden_here(&self) -> usize {
        self.hidden.len()
    }

    /// Groups this layer could not protect (see [`Outcome::unprotected`]).
    pub fn unprotected(&self) -> usize {
        self.unprotected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(level: Level, code: &str, visitors: u64) -> IndicatorRow {
        IndicatorRow {
            level,
            code: code.into(),
            period: Period::Week,
            start: "2026-11-23".parse().unwrap(),
            breakdown: None,
            visits: visitors * 2,
            visitors,
            page_views: visitors * 5,
            clicks: visitors,
            duration_s: visitors * 600,
        }
    }

    #[test]
    fn a_filter_and_a_breakdown_name_the_same_cell() {
        let start: NaiveDate = "2026-11-23".parse().unwrap();
        let by = IndicatorQuery::new(Level::Ecole, Period::Week, start, start).by(Breakdown::Profil);
        let mut filtered = IndicatorQuery::new(Level::Ecole, Period::Week, start, start);
        filtered.profil = Some("ELEVE".into());
        let r = IndicatorRow { breakdown: Some((Breakdown::Profil, "ELEVE".into())), ..row(Level::Ecole, "0350122T", 9) };
        assert_eq!(CellId::of(&by, &r), CellId::of(&filtered, &row(Level::Ecole, "0350122T", 9)));
        let mut in_project = IndicatorQuery::new(Level::Ecole, Period::Week, start, start);
        in_project.within = Some((Level::Projet, "TOUTATICE".into()));
        assert_eq!(CellId::of(&in_project, &r).within, Some((Level::Projet, "TOUTATICE".into())));
        assert_eq!(territorial_queries(Period::Week, start, None).len(), 24, "6 levels × (all, by profile, by kind, by sector)");
        let mut college = IndicatorQuery::new(Level::Departement, Period::Week, start, start);
        college.degre = Some("college".into());
        let by_kind = IndicatorQuery::new(Level::Departement, Period::Week, start, start).by(Breakdown::Degre);
        let kind_row = IndicatorRow { breakdown: Some((Breakdown::Degre, "college".into())), ..row(Level::Departement, "35", 9) };
        assert_eq!(CellId::of(&by_kind, &kind_row), CellId::of(&college, &row(Level::Departement, "35", 9)));
        assert_eq!(CellId::of(&college, &row(Level::Departement, "35", 9)).degre.as_deref(), Some("college"));
    }

    #[test]
    fn a_small_kind_of_school_is_hidden_with_another_so_no_difference_gives_it_back() {
        let plan = Plan::shipped();
        let dep = |kind: Option<&str>, sector: Option<&str>, profil: Option<&str>| {
            CellId::new(Level::Departement, "35").school(Breakdown::Degre, kind).school(Breakdown::Secteur, sector).profil(profil)
        };
        // 35 has 100 visitors: 60 in écoles, 37 in collèges, 3 elsewhere; 97 public, 3 private;
        // 70 pupils, 30 teachers.
        let mut cells = vec![(dep(None, None, None), row(Level::Departement, "35", 100))];
        cells.extend([("ecole", 60), ("college", 37), ("autre", 3)].map(|(k, v)| (dep(Some(k), None, None), row(Level::Departement, "35", v))));
        cells.extend([("public", 97), ("prive", 3)].map(|(s, v)| (dep(None, Some(s), None), row(Level::Departement, "35", v))));
        cells.extend([("ELEVE", 70), ("ENSEIGNANT", 30)].map(|(p, v)| (dep(None, None, Some(p)), row(Level::Departement, "35", v))));
        let s = Suppressed::territorial(&plan, Referential::shipped(), cells, 5);
        assert!(
            s.is_hidden(&dep(Some("autre"), None, None)) && s.is_hidden(&dep(Some("college"), None, None)),
            "the smallest other part goes with it"
        );
        assert!(!s.is_hidden(&dep(Some("ecole"), None, None)) && !s.is_hidden(&dep(None, None, None)), "the total stays");
        assert!(s.is_hidden(&dep(None, Some("prive"), None)) && s.is_hidden(&dep(None, Some("public"), None)), "two sectors: both go");
        assert!(!s.is_hidden(&dep(None, None, Some("ELEVE"))) && !s.is_hidden(&dep(None, None, Some("ENSEIGNANT"))), "the profiles stay");
    }

    #[test]
    fn a_small_school_is_hidden_with_a_sibling_and_the_rest_stays() {
        let plan = Plan::shipped();
        let referential = Referential::shipped();
        let mut schools: Vec<&str> =
            referential.schools().filter(|s| s.uai.starts_with("035") && s.circonscription.is_none()).map(|s| s.uai.as_str()).collect();
        schools.truncate(3);
        let mut cells = vec![(CellId::new(Level::Departement, "35"), row(Level::Departement, "35", 4 + 20 + 30))];
        for (uai, v) in schools.iter().zip([4, 20, 30]) {
            cells.push((CellId::new(Level::Ecole, uai), row(Level::Ecole, uai, v)));
        }
        let s = Arc::new(Suppressed::territorial(&plan, referential, cells, 5));
        assert!(s.is_hidden(&CellId::new(Level::Ecole, schools[0])) && s.is_hidden(&CellId::new(Level::Ecole, schools[1])));
        assert!(!s.is_hidden(&CellId::new(Level::Ecole, schools[2])) && !s.is_hidden(&CellId::new(Level::Departement, "35")));
        // A project layer: its one school is the base's cell; hidden there, so the project
        // (its total) is hidden with it, and its profiles then need a second cell.
        let school = CellId::new(Level::Ecole, schools[0]);
        let linked = s.link(CellId { within: Some((Level::Projet, "P".into())), ..school.clone() }, &row(Level::Ecole, schools[0], 4));
        assert_eq!(linked, school);
        let project = CellId::new(Level::Projet, "P");
        let layer = Arc::new(s.layer([(project.clone(), row(Level::Projet, "P", 4))], vec![Group { total: project.clone(), parts: vec![linked] }]));
        assert!(layer.is_hidden(&project));
        assert_eq!(layer.hidden_here(), 1);
    }
}
