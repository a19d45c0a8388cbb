//! The ENT editor's view: refusals by week and reason (as received, with how many a replay
//! recovered since), refused values, UAI problems, services that stopped being tagged, plan
//! versions and a sample of refused events.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use pipeline::Period;
use serde::Serialize;
use utoipa::ToSchema;

use super::{mondays, Filters};
use crate::{DashboardError, Dashboards};

/// Refusals of one week, by reason code. Refusals are counted as received: an event refused
/// that week stays refused there after a replay recovered it (its hit is then counted on its
/// day too); `recovered` says how many were.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectWeek {
    /// Monday.
    pub week: NaiveDate,
    /// Hits accepted that week (hits recovered by a replay among them).
    pub accepted: u64,
    /// Events refused that week when received (whatever their reasons).
    pub refused: u64,
    /// Of the events refused that week, those a replay recovered since.
    pub recovered: u64,
    /// Share refused: refused ÷ (accepted + refused).
    pub refused_share: f64,
    /// Refused events per reason code (an event with two reasons counts under both).
    pub by_code: BTreeMap<String, u64>,
    /// Of those, per reason code, the events a replay recovered since (codes with none left out).
    pub recovered_by_code: BTreeMap<String, u64>,
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
    /// Of those, the events a replay recovered since.
    pub recovered: u64,
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
        filters.without_school("la conformité d'une plateforme")?;
        let day = match filters.debut {
            Some(d) => d,
            None => self
                .latest_day()
                .await?
                .max(self.store.rejected_events(self.today() - Days::new(7), self.today()).await?.last().map_or(NaiveDate::MIN, |r| r.day)),
        };
        let from = Period::SchoolYear.start_of(day);
        let to = day;
        // The page's reads run at once (see `spawned_query`).
        let (owned, wanted) = (plateforme.to_owned(), plateforme.to_owned());
        let (tagging, counts, refused, sample) = tokio::try_join!(
            self.spawned(move |store| async move { store.tagging(from, to, Some(&wanted)).await }),
            self.spawned(move |store| async move { store.reject_counts(from, to).await }),
            self.spawned(move |store| async move { store.rejected_events(from, to).await }),
            self.spawned(move |store| async move { store.reject_sample(&owned, from, to, 20).await }),
        )?;
        let counts: Vec<_> = counts.into_iter().filter(|c| c.plateforme.as_deref() == Some(plateforme)).collect();
        let refused: Vec<_> = refused.into_iter().filter(|r| r.plateforme.as_deref() == Some(plateforme)).collect();

        let week_of = |d: NaiveDate| Period::Week.start_of(d);
        let today = self.today();
        let mut weeks: BTreeMap<NaiveDate, RejectWeek> = mondays(week_of(from), to, today)
            .map(|(week, incomplete)| {
                let (by_code, recovered_by_code) = (BTreeMap::new(), BTreeMap::new());
                (week, RejectWeek { week, accepted: 0, refused: 0, recovered: 0, refused_share: 0.0, by_code, recovered_by_code, incomplete })
            })
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
        for r in &refused {
            if let Some(w) = weeks.get_mut(&week_of(r.day)) {
                w.refused += r.events;
                w.recovered += r.recovered;
            }
        }
        let mut values: BTreeMap<(String, Option<String>, String), (u64, u64)> = BTreeMap::new();
        for c in &counts {
            if let Some(w) = weeks.get_mut(&week_of(c.day)) {
                *w.by_code.entry(c.code.clone()).or_default() += c.events;
                if c.recovered > 0 {
                    *w.recovered_by_code.entry(c.code.clone()).or_default() += c.recovered;
                }
            }
            let value = values.entry((c.field.clone(), c.value.clone(), c.code.clone())).or_default();
            value.0 += c.events;
            value.1 += c.recovered;
        }
        #[allow(clippy::cast_precision_loss)] // shares for display
        for w in weeks.values_mut() {
            let total = (w.accepted + w.refused) as f64;
            w.refused_share = if total > 0.0 { w.refused as f64 / total } else { 0.0 };
        }
        let mut invalid: Vec<InvalidValue> =
            values.into_iter().map(|((field, value, code), (events, recovered))| InvalidValue { field, value, code, events, recovered }).collect();
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

        let sample = sample
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
