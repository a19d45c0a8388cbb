//! [`Hit`]: an event the plan accepted, with every value in the plan's spelling and the plan
//! version that accepted it. The visitor id is still the one sent: the collector replaces it by
//! a keyed pseudonym before anything is written.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::raw_hit::WireFormat;
use crate::validate::Warning;

/// A validated hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// Version of the plan that accepted it.
    pub plan_version: String,
    /// Wire format it arrived in.
    pub format: WireFormat,
    /// `page.display` or one of the plan's click events.
    pub event: String,
    /// Numeric site id of the collectivité.
    pub site: String,
    /// Page name, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Service code (`CAHIER_TEXTES`, `PAGE_ENT`…).
    pub service: String,
    /// `NATIF` or `TIERS`.
    #[serde(rename = "type")]
    pub service_type: String,
    /// Third-party tool, for `TIERS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outil: Option<String>,
    /// School UAI (format and check letter verified).
    pub uai: String,
    /// ENT project.
    pub projet: String,
    /// Operator.
    pub exploitant: String,
    /// Platform.
    pub plateforme: String,
    /// Profile code.
    pub profil: String,
    /// Identified visitor id as sent (pseudonymized by the collector before storage).
    pub visitor_id: String,
    /// Level 2, when sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level2: Option<String>,
    /// SDK page-view id (used to recognize retried bodies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pageview_id: Option<String>,
    /// Client clock, milliseconds since the epoch (`device_timestamp_utc`, `SmartTag` `ts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_time_ms: Option<i64>,
    /// Custom variables of the plan, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
    /// What was accepted but noted (legacy codes, aliases…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

impl Hit {
    /// Whether the hit is a page view (else a click).
    pub fn is_page_view(&self) -> bool {
        self.event.starts_with("page.")
    }
}
