//! The dashboards: server-rendered pages, charts and a JSON API over the `RollupStore`, for
//! three audiences:
//! - national analysts, `/territoires`: territories compared, map, drill-down, per-pupil rates,
//!   weekly series with school holidays and the previous year;
//! - project owners, `/projets/{projet}`: deployment steering (active schools, adoption,
//!   profiles, services, least active schools, week-over-week change) and, where a perimeter is
//!   configured ([`perimeter`]), the deployment rate against it, its target and dated notes;
//! - ENT editors, `/conformite/{plateforme}`: tagging conformance from the dead letters, and
//!   their hits live at `/conformite/{plateforme}/direct` ([`live`]).
//!
//! Analysts also compare two territories side by side (`/territoires/comparer`), and project
//! owners add dated notes through the API (`/api/v1/annotations`, kept by [`annotations`]).
//!
//! Every number goes through small-cell suppression ([`suppress`]); the API under `/api/v1`
//! returns the same views as the pages ([`views`]), described at `/api/v1/openapi.json`.

pub mod access;
pub mod annotations;
pub mod annotations_api;
pub mod api;
pub mod charts;
pub mod compare_routes;
pub mod config;
pub mod french;
pub mod geo;
pub mod holidays;
pub mod live;
pub mod pages;
pub mod perimeter;
pub mod png;
pub mod routes;
pub mod suppress;
pub mod territory;
pub mod view_cache;
pub mod views;

use std::sync::Arc;

use chrono::NaiveDate;
use pipeline::{IndicatorQuery, IndicatorRow, PipelineError, RollupStore};
use tagging_plan::{Plan, Referential};

pub use config::{DashboardConfig, EditorAccess, OwnerAccess};
pub use routes::router;

/// Why a view cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// A filter or parameter is wrong (400).
    #[error("{0}")]
    BadRequest(String),
    /// No such territory, project or platform (404).
    #[error("{0}")]
    NotFound(String),
    /// The request lacks the token this view needs (401) or the token does not give it (403).
    #[error("{message}")]
    Denied {
        /// Whether a token was given at all.
        authenticated: bool,
        /// Why.
        message: String,
    },
    /// What this deployment cannot serve now (503): the live view without access to the log.
    #[error("{0}")]
    Unavailable(String),
    /// A request's content is refused (400), with its own stable code (`empty_text`…).
    #[error("{message}")]
    Invalid {
        /// The stable code.
        code: &'static str,
        /// Why.
        message: String,
    },
    /// The store failed (500).
    #[error("rollup store: {0}")]
    Store(#[from] PipelineError),
    /// A chart could not be drawn (500).
    #[error(transparent)]
    Chart(#[from] charts::ChartError),
    /// A chart could not be turned into PNG (500).
    #[error(transparent)]
    Png(#[from] png::PngError),
}

impl DashboardError {
    /// Stable reason code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            DashboardError::BadRequest(_) => "bad_request",
            DashboardError::Invalid { code, .. } => code,
            DashboardError::NotFound(_) => "not_found",
            DashboardError::Denied { authenticated: false, .. } => "token_required",
            DashboardError::Denied { authenticated: true, .. } => "forbidden",
            DashboardError::Unavailable(_) => "unavailable",
            DashboardError::Store(_) => "store_error",
            DashboardError::Chart(_) | DashboardError::Png(_) => "chart_error",
        }
    }
}

/// Everything the dashboards read: the store, the plan, the referential and the open data.
pub struct Dashboards {
    store: Arc<dyn RollupStore>,
    plan: Arc<Plan>,
    referential: Arc<Referential>,
    territories: territory::TerritoryIndex,
    calendar: holidays::Calendar,
    outlines: &'static [geo::Outline],
    departement_outlines: &'static [geo::Outline],
    config: DashboardConfig,
    /// The projects' perimeters, resolved against the referential.
    perimeters: std::collections::BTreeMap<String, perimeter::Perimeter>,
    today: Option<NaiveDate>,
    cache: view_cache::ViewCache,
    /// The live feed of the hit log, when the dashboards can read it.
    live: Option<live::LiveFeed>,
    /// The notes added through the API.
    notes: annotations::NoteBook,
}

impl Dashboards {
    /// Dashboards over a store. A perimeter that does not resolve is left out with an error in
    /// the log: [`Self::try_new`] refuses it instead (what the command line uses).
    pub fn new(store: Arc<dyn RollupStore>, plan: Arc<Plan>, referential: Arc<Referential>, mut config: DashboardConfig) -> Self {
        let mut perimeters = std::collections::BTreeMap::new();
        for (projet, p) in &config.perimeters {
            let listed = config.project_schools.get(projet).map_or(&[][..], Vec::as_slice);
            match p.resolve(projet, &plan, &referential, listed) {
                Ok(p) => {
                    perimeters.insert(projet.clone(), p);
                }
                Err(e) => tracing::error!(error = %e, "perimeter left out"),
            }
        }
        config.perimeters.retain(|projet, _| perimeters.contains_key(projet));
        Self::build(store, plan, referential, config, perimeters)
    }

    /// Dashboards over a store; fails on a perimeter that names an unknown territory or
    /// matches no school (the error names its key).
    pub fn try_new(
        store: Arc<dyn RollupStore>,
        plan: Arc<Plan>,
        referential: Arc<Referential>,
        config: DashboardConfig,
    ) -> Result<Self, perimeter::PerimeterError> {
        let perimeters = perimeter::resolve_all(&config.perimeters, &config.project_schools, &plan, &referential)?;
        Ok(Self::build(store, plan, referential, config, perimeters))
    }

    fn build(
        store: Arc<dyn RollupStore>,
        plan: Arc<Plan>,
        referential: Arc<Referential>,
        config: DashboardConfig,
        perimeters: std::collections::BTreeMap<String, perimeter::Perimeter>,
    ) -> Self {
        let territories = territory::TerritoryIndex::build(&plan, &referential);
        let cache = view_cache::ViewCache::new(std::time::Duration::from_secs(config.cache_seconds));
        Dashboards {
            store,
            plan,
            referential,
            territories,
            calendar: holidays::Calendar::shipped(),
            outlines: geo::academies(),
            departement_outlines: geo::departements(),
            config,
            perimeters,
            today: None,
            cache,
            live: None,
            notes: annotations::NoteBook::in_memory(),
        }
    }

    /// The same, keeping the notes added through the API in this note book (by default they
    /// are kept in memory only).
    #[must_use]
    pub fn with_notes(mut self, notes: annotations::NoteBook) -> Self {
        self.notes = notes;
        self
    }

    /// The notes added through the API.
    pub fn notes(&self) -> &annotations::NoteBook {
        &self.notes
    }

    /// The notes of a project's curves, by date: the configuration's and the API's.
    pub fn annotations_of(&self, projet: &str) -> Vec<perimeter::Annotation> {
        let of_project = |p: Option<&str>| p.is_none_or(|p| p == projet);
        let mut notes: Vec<perimeter::Annotation> = self.config.annotations.iter().filter(|a| of_project(a.projet.as_deref())).cloned().collect();
        notes.extend(self.notes.all().into_iter().filter(|n| of_project(n.projet.as_deref())).map(|n| perimeter::Annotation {
            projet: n.projet,
            date: n.date,
            text: n.text,
        }));
        notes.sort_by_key(|a| a.date);
        notes
    }

    /// Whether a project is known: configured (perimeter, listed schools, notes) or seen in the
    /// traffic of any school year the store holds.
    pub async fn knows_project(&self, projet: &str) -> Result<bool, DashboardError> {
        let configured = self.perimeters.contains_key(projet)
            || self.config.project_schools.contains_key(projet)
            || self.config.annotations.iter().any(|a| a.projet.as_deref() == Some(projet));
        if configured {
            return Ok(true);
        }
        let days = self.store.days().await?;
        let (Some(first), Some(last)) = (days.first(), days.last()) else { return Ok(false) };
        let year = pipeline::Period::SchoolYear;
        let query = IndicatorQuery::new(pipeline::Level::Projet, year, year.start_of(*first), year.start_of(*last)).without_unique_visitors();
        Ok(self.spawned_query(query).await?.iter().any(|r| r.code == projet))
    }

    /// The same, with a fixed "today" (tests and benches over recorded data).
    #[must_use]
    pub fn with_today(mut self, today: NaiveDate) -> Self {
        self.today = Some(today);
        self
    }

    /// The same, with the live inspector over a hit log (without one, its page says it is not
    /// available), for the platforms of the configured editors.
    #[must_use]
    pub fn with_live(mut self, log: Arc<dyn collector::log::HitLog>) -> Self {
        let plateformes = self.config.editors.iter().flat_map(|e| e.plateformes.iter().cloned()).collect::<Vec<_>>();
        self.live = Some(live::LiveFeed::new(log, plateformes));
        self
    }

    /// The live feed, when the dashboards read the hit log.
    pub fn live(&self) -> Option<&live::LiveFeed> {
        self.live.as_ref()
    }

    /// Today in Europe/Paris (or the fixed day).
    pub fn today(&self) -> NaiveDate {
        self.today.unwrap_or_else(|| chrono::Utc::now().with_timezone(&chrono_tz::Europe::Paris).date_naive())
    }

    /// The configuration.
    pub fn config(&self) -> &DashboardConfig {
        &self.config
    }

    /// A project's perimeter, when one is configured.
    pub fn perimeter(&self, projet: &str) -> Option<&perimeter::Perimeter> {
        self.perimeters.get(projet)
    }

    /// Runs a store query on a task of its own, so that the independent queries of one page
    /// run on every core rather than interleaved on one.
    pub(crate) fn spawned_query(
        &self,
        query: IndicatorQuery,
    ) -> impl std::future::Future<Output = Result<Vec<IndicatorRow>, DashboardError>> + 'static {
        self.spawned(move |store| async move { store.query(&query).await })
    }

    /// Runs a read of the store (given the store) on a task of its own, started now.
    pub(crate) fn spawned<T, F, Fut>(&self, read: F) -> impl std::future::Future<Output = Result<T, DashboardError>> + 'static
    where
        T: Send + 'static,
        F: FnOnce(Arc<dyn RollupStore>) -> Fut,
        Fut: std::future::Future<Output = Result<T, PipelineError>> + Send + 'static,
    {
        let task = tokio::spawn(read(Arc::clone(&self.store)));
        async move {
            match task.await {
                Ok(result) => Ok(result?),
                Err(e) => Err(DashboardError::Store(PipelineError::Store(format!("a query task failed: {e}")))),
            }
        }
    }
}

/// Shared handle given to the handlers.
pub type Shared = Arc<Dashboards>;
