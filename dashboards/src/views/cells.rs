//! The complete sets of cells the views read their figures from, with the cells hidden by
//! [`pipeline::suppression`]: per period and service filter, every territory of every level for
//! all visits, each profile, each kind of school, each sector and each profile of a kind or a
//! sector (the base set, shared by every page, CSV file, chart and API call of that period, and
//! by the open data); per project, its cells and its schools' as a layer over it. Each set is
//! computed from all its cells, never from a page's selection, and kept in the view cache like
//! the views.

use std::sync::Arc;

use chrono::NaiveDate;
use pipeline::suppression::{self, CellId, Group, Suppressed};
use pipeline::{Breakdown, IndicatorQuery, IndicatorRow, Level, Period};

use super::Filters;
use crate::{DashboardError, Dashboards};

/// A project's cells over one period: the layer deciding them, and the cells of each list.
#[derive(Debug, Clone)]
pub struct ProjectCells {
    /// The layer (over the base set of the period).
    pub layer: Arc<Suppressed>,
    /// The project's cell under the filters.
    pub project: CellId,
    /// Its profiles (without a profile filter: all of them; with one: that one).
    pub profiles: Vec<CellId>,
    /// Its services under the filters.
    pub services: Vec<CellId>,
    /// Its schools under the filters (a school's own cell when it has no traffic elsewhere).
    pub schools: Vec<(CellId, IndicatorRow)>,
}

impl Dashboards {
    /// The base set of one period (`start`: its first day) under a service filter.
    pub async fn suppression(&self, period: Period, start: NaiveDate, service: Option<&str>) -> Result<Arc<Suppressed>, DashboardError> {
        let key = format!("suppression|{period:?}|{start}|{service:?}");
        self.cache
            .get_or_compute(key, async {
                let queries = suppression::territorial_queries(period, start, service);
                // Every query at once (see `spawned_query`).
                let tasks: Vec<_> = queries.iter().map(|q| self.spawned_query(q.clone())).collect();
                let mut all = Vec::new();
                for (query, task) in queries.iter().zip(tasks) {
                    all.extend(suppression::cells(query, task.await?));
                }
                Ok(Arc::new(Suppressed::territorial(&self.plan, &self.referential, all, self.config.k)))
            })
            .await
    }

    /// A project's cells over the period starting on `start`, under the filters: the project, its
    /// profiles, services and schools decided as a layer over the base set (first without a
    /// profile filter, so that a profile's cell is the same with and without the filter, then
    /// the filtered schools and services over that).
    pub async fn project_cells(&self, projet: &str, period: Period, start: NaiveDate, filters: &Filters) -> Result<ProjectCells, DashboardError> {
        let key = format!("projet-cells|{projet}|{period:?}|{start}|{:?}|{:?}", filters.profil, filters.service);
        // Boxed: the computation's future is large (seven queries at once), and every caller would carry it.
        self.cache.get_or_compute(key, Box::pin(self.compute_project_cells(projet, period, start, filters))).await
    }

    async fn compute_project_cells(&self, projet: &str, period: Period, start: NaiveDate, filters: &Filters) -> Result<ProjectCells, DashboardError> {
        let service = filters.service.as_deref().filter(|s| !s.is_empty());
        let profil = filters.profil.as_deref().filter(|s| !s.is_empty());
        let within = Some((Level::Projet, projet.to_owned()));
        let ask = |level: Level, profil: Option<&str>| {
            let mut q = IndicatorQuery::new(level, period, start, start);
            q.within.clone_from(&within);
            q.service = service.map(str::to_owned);
            q.profil = profil.map(str::to_owned);
            q
        };
        let (project_q, profiles_q, schools_q) = (ask(Level::Projet, None), ask(Level::Projet, None).by(Breakdown::Profil), ask(Level::Ecole, None));
        // A service filter and the service breakdown cannot be combined: one service only then.
        let services_q = service.is_none().then(|| ask(Level::Projet, None).by(Breakdown::Service));
        let filtered_q = profil.map(|p| (ask(Level::Ecole, Some(p)), service.is_none().then(|| ask(Level::Projet, Some(p)).by(Breakdown::Service))));
        let optional = |q: Option<IndicatorQuery>| {
            let task = q.clone().map(|q| self.spawned_query(q));
            async move {
                match (q, task) {
                    (Some(q), Some(task)) => Ok::<_, DashboardError>(Some((q, task.await?))),
                    _ => Ok(None),
                }
            }
        };
        let (filtered_schools_q, filtered_services_q) = filtered_q.unzip();
        let (base, project_rows, profiles, schools, services, filtered_schools, filtered_services) = tokio::try_join!(
            self.suppression(period, start, service),
            self.spawned_query(project_q.clone()),
            self.spawned_query(profiles_q.clone()),
            self.spawned_query(schools_q.clone()),
            optional(services_q),
            optional(filtered_schools_q),
            optional(filtered_services_q.flatten()),
        )?;

        let project_id = CellId::of(&project_q, &IndicatorRow { level: Level::Projet, code: projet.to_owned(), ..placeholder(period, start) });
        let linked = |base: &Suppressed, q: &IndicatorQuery, rows: Vec<IndicatorRow>| -> Vec<(CellId, IndicatorRow)> {
            suppression::cells(q, rows).map(|(id, row)| (base.link(id, &row), row)).collect()
        };
        let profile_cells: Vec<(CellId, IndicatorRow)> = suppression::cells(&profiles_q, profiles).collect();
        let school_cells = linked(&base, &schools_q, schools);
        let service_cells: Vec<(CellId, IndicatorRow)> = services.map(|(q, rows)| suppression::cells(&q, rows).collect()).unwrap_or_default();
        let groups = vec![
            Group { total: project_id.clone(), parts: school_cells.iter().map(|c| c.0.clone()).collect() },
            Group { total: project_id.clone(), parts: profile_cells.iter().map(|c| c.0.clone()).collect() },
            Group { total: project_id.clone(), parts: service_cells.iter().map(|c| c.0.clone()).collect() },
        ];
        let mut all_cells: Vec<(CellId, IndicatorRow)> = suppression::cells(&project_q, project_rows).collect();
        all_cells.extend(profile_cells.iter().cloned());
        all_cells.extend(school_cells.iter().cloned());
        all_cells.extend(service_cells.iter().cloned());
        let layer = Arc::new(base.layer(all_cells, groups));

        let Some(profil) = profil else {
            return Ok(ProjectCells {
                layer,
                project: project_id,
                profiles: profile_cells.into_iter().map(|c| c.0).collect(),
                services: service_cells.into_iter().map(|c| c.0).collect(),
                schools: school_cells,
            });
        };
        // Under a profile filter: the project's cell of that profile is decided above; its
        // schools and services of that profile over it.
        let filtered_id = project_id.profil(Some(profil));
        let school_cells = filtered_schools.map(|(q, rows)| linked(&layer, &q, rows)).unwrap_or_default();
        let service_cells: Vec<(CellId, IndicatorRow)> =
            filtered_services.map(|(q, rows)| suppression::cells(&q, rows).collect()).unwrap_or_default();
        let groups = vec![
            Group { total: filtered_id.clone(), parts: school_cells.iter().map(|c| c.0.clone()).collect() },
            Group { total: filtered_id.clone(), parts: service_cells.iter().map(|c| c.0.clone()).collect() },
        ];
        let cells: Vec<(CellId, IndicatorRow)> = school_cells.iter().chain(&service_cells).cloned().collect();
        let filtered = Arc::new(layer.layer(cells, groups));
        Ok(ProjectCells {
            layer: filtered,
            profiles: vec![filtered_id.clone()],
            project: filtered_id,
            services: service_cells.into_iter().map(|c| c.0).collect(),
            schools: school_cells,
        })
    }
}

/// A row of no figures, to name a cell.
fn placeholder(period: Period, start: NaiveDate) -> IndicatorRow {
    IndicatorRow {
        level: Level::Nation,
        code: String::new(),
        period,
        start,
        breakdown: None,
        visits: 0,
        visitors: 0,
        page_views: 0,
        clicks: 0,
        duration_s: 0,
    }
}
