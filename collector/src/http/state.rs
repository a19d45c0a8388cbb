//! What every handler shares: the plan, the referential, the log, the keys, the User-Agent
//! classifier, the multi-part assembler, the retry memory and the metrics.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tagging_plan::wire::MultiHitAssembler;
use tagging_plan::{Plan, Referential};

use super::dedupe::RecentBodies;
use super::metrics::Metrics;
use crate::freshness::Freshness;
use crate::log::HitLog;
use crate::pseudonym::KeyRing;
use crate::useragent::UaClassifier;

/// Settings of the HTTP intake.
#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Most events in one SDK body (413 beyond).
    pub max_events_per_body: usize,
    /// When set, only these site ids are accepted (403 `unknown_site` otherwise).
    pub allowed_sites: Option<HashSet<String>>,
    /// Origins allowed by CORS; empty means any origin.
    pub allowed_origins: Vec<String>,
    /// How long parts of a split SmartTag hit wait for the others.
    pub multihit_timeout: Duration,
    /// How long a stored SDK body is remembered to recognize its retries.
    pub dedupe_window: Duration,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        IntakeConfig {
            max_body_bytes: 512 << 10,
            max_events_per_body: 500,
            allowed_sites: None,
            allowed_origins: Vec::new(),
            multihit_timeout: Duration::from_secs(60),
            dedupe_window: Duration::from_secs(600),
        }
    }
}

/// Shared state of the collector.
pub struct CollectorState {
    /// Intake settings.
    pub config: IntakeConfig,
    /// The plan applied.
    pub plan: Plan,
    /// The school referential.
    pub referential: Arc<Referential>,
    /// Where hits go.
    pub log: Arc<dyn HitLog>,
    /// Pseudonymization keys.
    pub keys: KeyRing,
    /// User-Agent classes and bots.
    pub user_agents: UaClassifier,
    /// Split SmartTag hits waiting for their parts.
    pub multihits: Mutex<MultiHitAssembler>,
    /// Retried bodies.
    pub recent: RecentBodies,
    /// Counters.
    pub metrics: Metrics,
    /// Receive times of the newest hits acknowledged, staged and counted (the last two set by
    /// an in-process pipeline that shares it).
    pub freshness: Arc<Freshness>,
}

impl CollectorState {
    /// Shared state from its parts.
    pub fn new(config: IntakeConfig, plan: Plan, referential: Arc<Referential>, log: Arc<dyn HitLog>, keys: KeyRing) -> Arc<Self> {
        let recent = RecentBodies::new(config.dedupe_window);
        Arc::new(CollectorState {
            config,
            plan,
            referential,
            log,
            keys,
            user_agents: UaClassifier::default(),
            multihits: Mutex::new(MultiHitAssembler::default()),
            recent,
            metrics: Metrics::default(),
            freshness: Arc::default(),
        })
    }
}
