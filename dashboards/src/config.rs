//! Dashboard settings, the `[dashboards]` table of the configuration file: the small-cell
//! threshold k, who may read the analyst and project views, each ENT editor's token and
//! platforms, each project owner's token and projects, the administrators' tokens, and the
//! project owners' perimeters, targets and annotations ([`crate::perimeter`]).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::perimeter::{Annotation, PerimeterConfig};

/// What the dashboards need to know from the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// No figure computed from fewer than `k` unique visitors is shown (default 5).
    pub k: u64,
    /// Tokens of the readers of the analyst and project views (`/territoires`, `/projets`).
    /// With `open_views = true` these views need no token.
    pub readers: Vec<SecretString>,
    /// Whether the analyst and project views are open to anyone (the demo's setting).
    pub open_views: bool,
    /// ENT editors: each sees the conformance page of its own platforms only.
    pub editors: Vec<EditorAccess>,
    /// Project owners: each reads the analyst and project views and may add and delete the notes
    /// of its own projects through the API (`/api/v1/annotations`).
    pub owners: Vec<OwnerAccess>,
    /// Tokens of the administrators: readers who may add and delete any note, including notes of
    /// every project.
    pub admins: Vec<SecretString>,
    /// Schools listed for a project (besides those seen in its traffic), by project code. Where
    /// the project has a perimeter, they are added to it (as its `uai`).
    pub project_schools: std::collections::BTreeMap<String, Vec<String>>,
    /// Each project's perimeter (`[dashboards.perimeters.ONE]`): the schools its deployment rate
    /// is measured against, and its target.
    pub perimeters: std::collections::BTreeMap<String, PerimeterConfig>,
    /// Dated notes on the project curves (`[[dashboards.annotations]]`).
    pub annotations: Vec<Annotation>,
    /// How long a computed view is reused by the page, its CSV, charts and API (default 10 s;
    /// 0 computes every request afresh).
    pub cache_seconds: u64,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            k: 5,
            readers: Vec::new(),
            open_views: false,
            editors: Vec::new(),
            owners: Vec::new(),
            admins: Vec::new(),
            project_schools: std::collections::BTreeMap::new(),
            perimeters: std::collections::BTreeMap::new(),
            annotations: Vec::new(),
            cache_seconds: 10,
        }
    }
}

/// One ENT editor's access.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditorAccess {
    /// Display name.
    pub name: String,
    /// Its secret token (never printed: `Debug` shows it redacted).
    pub token: SecretString,
    /// The platforms (`plateforme` codes) whose conformance it may see.
    pub plateformes: Vec<String>,
}

/// One project owner's access.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerAccess {
    /// Display name (kept as the author of its notes).
    pub name: String,
    /// Its secret token (never printed).
    pub token: SecretString,
    /// The projects (`projet` codes) whose notes it may add and delete.
    pub projets: Vec<String>,
}

impl DashboardConfig {
    /// Checks what needs neither the plan nor the referential (the perimeters' targets and UAIs,
    /// the annotations); [`crate::perimeter::resolve_all`] does the rest.
    pub fn check(&self) -> Result<(), String> {
        for (projet, perimeter) in &self.perimeters {
            perimeter.check(projet).map_err(|e| e.to_string())?;
        }
        for owner in &self.owners {
            if owner.token.expose_secret().is_empty() || owner.projets.is_empty() {
                return Err(format!("[[dashboards.owners]] {:?} needs a token and at least one projet", owner.name));
            }
        }
        if self.admins.iter().any(|t| t.expose_secret().is_empty()) {
            return Err("[dashboards] admins: a token is empty".to_owned());
        }
        crate::perimeter::check_annotations(&self.annotations)
    }
}
