//! Validation of a [`RawHit`] against the plan: `Result<Hit, Vec<Rejection>>`.
//!
//! Every variable is looked up under its wire names for the hit's format (then its legacy
//! parameter), checked by its rule, and the cross-field rules are applied: TYPE/OUTIL
//! consistency, PROFIL against the visitor category, level2 against the UAI, the UAI's check
//! letter and département. All reasons are collected, so an editor fixes a tag in one pass.
//! Warnings ride on the accepted [`Hit`].

mod extract;
mod outcome;

use std::collections::BTreeMap;

pub use outcome::{Rejection, Warning};

use self::extract::{Checked, Checker};
use crate::hit::Hit;
use crate::plan::{Plan, Role};
use crate::raw_hit::{RawHit, WireFormat};
use crate::referential::Referential;

/// Applies a plan (and optionally a referential, for the `uai_not_in_referential` warning).
#[derive(Debug, Clone, Copy)]
pub struct Validator<'a> {
    plan: &'a Plan,
    referential: Option<&'a Referential>,
}

impl<'a> Validator<'a> {
    /// A validator for a plan.
    pub fn new(plan: &'a Plan) -> Self {
        Validator { plan, referential: None }
    }

    /// Also warns about UAIs that are well formed but missing from this referential.
    #[must_use]
    pub fn with_referential(mut self, referential: &'a Referential) -> Self {
        self.referential = Some(referential);
        self
    }

    /// The plan applied.
    pub fn plan(&self) -> &'a Plan {
        self.plan
    }

    /// Validates one event; every reason at once when it is refused.
    pub fn validate(&self, raw: &RawHit) -> Result<Hit, Vec<Rejection>> {
        let mut checker = Checker::new(self.plan, raw);
        self.check_event(raw, &mut checker);
        let get = |checker: &mut Checker, role| self.plan.variable(role).and_then(|v| checker.check(v));
        let service = get(&mut checker, Role::Service);
        let service_type = get(&mut checker, Role::Type);
        let outil = get(&mut checker, Role::Outil);
        let uai = get(&mut checker, Role::Uai);
        let projet = get(&mut checker, Role::Projet);
        let exploitant = get(&mut checker, Role::Exploitant);
        let plateforme = get(&mut checker, Role::Plateforme);
        let profil = get(&mut checker, Role::Profil);
        let site = get(&mut checker, Role::Site);
        let page = get(&mut checker, Role::Page);
        let visitor_id = get(&mut checker, Role::VisitorId);
        let category = get(&mut checker, Role::VisitorCategory);
        let level2 = get(&mut checker, Role::Level2);
        let mut extra = BTreeMap::new();
        for variable in self.plan.variables().iter().filter(|v| Role::of(&v.name) == Role::Custom) {
            if let Some(value) = checker.check(variable) {
                extra.insert(variable.name.clone(), value.value);
            }
        }

        let (service_type, uai, exploitant) = if is_legacy_tag(self.plan, raw) {
            self.complete_legacy_tag(
                &mut checker,
                LegacyTag { service_type, outil: outil.as_ref(), uai, level2: level2.as_ref(), exploitant, plateforme: plateforme.as_ref() },
            )
        } else {
            (service_type, uai, exploitant)
        };
        check_type_outil(service_type.as_ref(), outil.as_ref(), &mut checker);
        let profil = Self::merge_profil(profil, category, &mut checker);
        if let (Some(uai), Some(level2)) = (&uai, &level2) {
            if !level2.value.trim().eq_ignore_ascii_case(&uai.value) {
                checker.warn("level2_mismatch", "level2", format!("level2 {:?} differs from UAI {}", level2.value, uai.value));
            }
        }
        if let (Some(uai), Some(referential)) = (&uai, self.referential) {
            if !referential.contains(&uai.value) {
                checker.warn(
                    "uai_not_in_referential",
                    "uai",
                    format!("UAI {} is not in the school referential (mapped by its département)", uai.value),
                );
            }
        }

        let (rejections, warnings) = checker.finish();
        match (service, service_type, uai, projet, exploitant, plateforme, profil, site, visitor_id) {
            (
                Some(service),
                Some(service_type),
                Some(uai),
                Some(projet),
                Some(exploitant),
                Some(plateforme),
                Some(profil),
                Some(site),
                Some(visitor_id),
            ) if rejections.is_empty() => Ok(Hit {
                plan_version: self.plan.version().to_owned(),
                format: raw.format,
                event: raw.event.to_string(),
                site: site.value,
                page: page.map(|p| p.value),
                service: service.value,
                service_type: service_type.value,
                outil: outil.map(|o| o.value),
                uai: uai.value,
                projet: projet.value,
                exploitant: exploitant.value,
                plateforme: plateforme.value,
                profil,
                visitor_id: visitor_id.value,
                level2: level2.map(|l| l.value),
                pageview_id: raw.get("pageview_id").map(str::to_owned),
                client_time_ms: client_time_ms(raw),
                extra,
                warnings,
            }),
            _ => Err(rejections),
        }
    }

    /// Completes a pre-2016 `SmartTag` hit ([`is_legacy_tag`]) where its variables are missing:
    /// TYPE is NATIF (TIERS when it names an OUTIL), the UAI is its level 2 (`s2`), the
    /// operator the plan's known operator of its platform. What cannot be derived stays refused
    /// as missing, with the reason.
    fn complete_legacy_tag(&self, checker: &mut Checker, tag: LegacyTag<'_>) -> (Option<Checked>, Option<Checked>, Option<Checked>) {
        let variable = |role| self.plan.variable(role).expect("the plan defines every role (checked at load)");
        let service_type = tag.service_type.or_else(|| match tag.outil {
            None => checker.derive(variable(Role::Type), "NATIF", "NATIF, as every service of a tag without OUTIL"),
            Some(outil) => checker.derive(variable(Role::Type), "TIERS", &format!("TIERS, as the tag names the tool {}", outil.value)),
        });
        let uai = tag.uai.or_else(|| {
            if let Some(level2) = tag.level2 {
                checker.derive(variable(Role::Uai), &level2.value, "taken from its level 2 (s2)")
            } else {
                checker.explain_missing(variable(Role::Uai), "the legacy tag has no level 2 (s2) to take it from");
                None
            }
        });
        let exploitant = tag.exploitant.or_else(|| match tag.plateforme.map(|p| (p, self.plan.operator_of(&p.value))) {
            Some((plateforme, Some(operator))) => {
                checker.derive(variable(Role::Exploitant), operator, &format!("{operator}, the plan's operator of the platform {}", plateforme.value))
            }
            Some((plateforme, None)) => {
                checker.explain_missing(variable(Role::Exploitant), &format!("the plan knows no operator of the platform {}", plateforme.value));
                None
            }
            None => {
                checker.explain_missing(variable(Role::Exploitant), "the legacy tag names no platform (x4) to find its operator");
                None
            }
        });
        (service_type, uai, exploitant)
    }

    fn check_event(&self, raw: &RawHit, checker: &mut Checker) {
        let events = self.plan.events();
        if raw.event.is_empty() {
            checker.reject(Rejection::new("missing_event_name", "event", None, "the event has no name"));
        } else if !events.page_views.iter().chain(&events.clicks).any(|e| *e == raw.event) {
            checker.reject(Rejection::new(
                "unsupported_event",
                "event",
                Some(&raw.event),
                format!("event {:?} is neither a page view nor a click of the plan", raw.event),
            ));
        }
    }

    /// PROFIL and the visitor category must agree; PROFIL falls back on the category.
    fn merge_profil(profil: Option<Checked>, category: Option<Checked>, checker: &mut Checker) -> Option<String> {
        match (profil, category) {
            (Some(p), Some(c)) if p.value != c.value => {
                checker.reject(Rejection::new(
                    "profil_category_mismatch",
                    "profil",
                    Some(&p.value),
                    format!("PROFIL {} contradicts the visitor category {}", p.value, c.value),
                ));
                None
            }
            (Some(p), _) => Some(p.value),
            (None, Some(c)) => {
                checker.unreject("missing_profil");
                checker.warn("profil_from_category", "profil", format!("PROFIL is missing; taken from the visitor category ({})", c.value));
                Some(c.value)
            }
            (None, None) => None,
        }
    }
}

/// The values of a legacy tag that [`Validator::complete_legacy_tag`] completes or reads.
struct LegacyTag<'c> {
    service_type: Option<Checked>,
    outil: Option<&'c Checked>,
    uai: Option<Checked>,
    level2: Option<&'c Checked>,
    exploitant: Option<Checked>,
    plateforme: Option<&'c Checked>,
}

/// Whether a hit is a pre-2016 `SmartTag` tag: SERVICE sent only in its legacy parameter (`x1`),
/// none of its current names.
fn is_legacy_tag(plan: &Plan, raw: &RawHit) -> bool {
    raw.format == WireFormat::Xiti
        && plan
            .variable(Role::Service)
            .is_some_and(|v| v.xiti.iter().all(|name| raw.get(name).is_none()) && v.legacy.as_deref().is_some_and(|l| raw.get(l).is_some()))
}

fn check_type_outil(service_type: Option<&Checked>, outil: Option<&Checked>, checker: &mut Checker) {
    match (service_type.map(|t| t.value.as_str()), outil) {
        (Some("TIERS"), None) => {
            checker.reject(Rejection::new("tiers_without_outil", "outil", None, "TYPE is TIERS but OUTIL is missing: name the third-party tool"));
        }
        (Some("NATIF"), Some(outil)) => checker.reject(Rejection::new(
            "outil_without_tiers",
            "type",
            Some(&outil.value),
            format!("OUTIL {} is set but TYPE is NATIF: a third-party tool is TIERS", outil.value),
        )),
        _ => {}
    }
}

/// The client clock: Piano `device_timestamp_utc` (seconds, fractional), `SmartTag` `ts` (ms).
#[allow(clippy::cast_possible_truncation)]
fn client_time_ms(raw: &RawHit) -> Option<i64> {
    if let Some(seconds) = raw.get("device_timestamp_utc").and_then(|s| s.trim().parse::<f64>().ok()) {
        return (seconds.is_finite() && seconds > 0.0 && seconds < 1e11).then(|| (seconds * 1000.0).round() as i64);
    }
    raw.get("ts").and_then(|s| s.trim().parse::<i64>().ok()).filter(|ms| *ms > 0)
}

#[cfg(test)]
mod tests;
