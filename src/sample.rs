//! A deterministic generator of realistic DNMA request lines, in the line format of
//! `dnma plan validate` (a URL, and for the Piano SDK a tab and its JSON body).
//!
//! Schools come from the shipped open data (first and second degree, several départements), each
//! on the ENT of its département ([`SampleGenerator::new`], what `dnma plan sample` prints), or
//! are the schools that opened a given ENT, each on its own ([`SampleGenerator::deployed`], the
//! demo's live traffic, which follows the deployments of its history); profiles and services
//! follow realistic shares; about 60 % of requests are SDK bodies of 1 to
//! 5 events, the rest `SmartTag` hits; a share of them is deliberately broken in the ways real tags
//! break (wrong check letter, unknown service, missing profile, TYPE/OUTIL disagreement,
//! malformed JSON: about 3 % of requests) or uses legacy codes (2 %). The same seed always gives the same lines.

use pipeline::synthetic::Deployment;
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};
use tagging_plan::referential::{Degree, School};
use tagging_plan::Referential;

/// Profiles and their share of page views.
const PROFILES: [(&str, u32); 5] = [("ELEVE", 55), ("PARENT", 25), ("ENSEIGNANT", 14), ("ADMIN_VIE_SCOL_TECH", 4), ("AUTRE", 2)];

/// Services and their popularity.
const SERVICES: [(&str, u32); 14] = [
    ("PAGE_ENT", 30),
    ("CAHIER_TEXTES", 18),
    ("COURRIER_ELECTRONIQUE", 14),
    ("NOTES", 9),
    ("ACTUALITES", 6),
    ("ABSENCES", 5),
    ("STOCKAGE_PARTAGE", 4),
    ("SERVICES_VIE_SCOLAIRE", 4),
    ("RESSOURCE_DOCUMENTAIRE", 3),
    ("MANUEL_NUMERIQUE", 3),
    ("VISIOCONFERENCE", 1),
    ("PRODUCTION_COLLABORATIVE", 1),
    ("CAHIER_LIAISON", 1),
    ("DOCUMENTATION_CDI", 1),
];

/// Third-party tools clicked through.
const OUTILS: [&str; 4] = ["NEXTCLOUD", "ZIMBRA", "BIG_BLUE_BUTTON", "PRONOTE"];

/// ENT platforms: (plateforme, exploitant).
const PLATFORMS: [(&str, &str); 4] = [("ONE", "ODE"), ("NEO", "ODE"), ("MBN", "KOSMOS"), ("MONLYCEE", "ITOP")];

/// How a generated request is broken, if at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    None,
    CheckLetter,
    UnknownService,
    MissingProfil,
    TiersWithoutOutil,
    OutilWithoutTiers,
    MalformedJson,
    Legacy,
}

/// About 3 % of requests are broken (as real tags are), 2 % use legacy codes.
const FLAWS: [(Flaw, u32); 8] = [
    (Flaw::None, 950),
    (Flaw::CheckLetter, 6),
    (Flaw::UnknownService, 6),
    (Flaw::MissingProfil, 6),
    (Flaw::TiersWithoutOutil, 5),
    (Flaw::OutilWithoutTiers, 4),
    (Flaw::MalformedJson, 3),
    (Flaw::Legacy, 20),
];

/// Enrolment assumed for a school the open data gives none.
const DEFAULT_ENROLMENT: u32 = 150;

/// The ENT a school's users visit: project, platform, operator.
#[derive(Debug, Clone)]
struct Ent {
    projet: String,
    plateforme: &'static str,
    exploitant: &'static str,
}

impl Ent {
    /// The ENT of the school's département (one of [`PLATFORMS`], project `ENT_<département>`).
    fn of_departement(school: &School) -> Self {
        let departement = school.departement_code.trim_start_matches('0');
        let (plateforme, exploitant) = PLATFORMS[departement.bytes().map(usize::from).sum::<usize>() % PLATFORMS.len()];
        Ent { projet: format!("ENT_{departement}"), plateforme, exploitant }
    }
}

/// Generates request lines.
pub struct SampleGenerator {
    rng: StdRng,
    schools: Vec<(School, Ent)>,
    by_enrolment: WeightedIndex<u32>,
    profiles: WeightedIndex<u32>,
    services: WeightedIndex<u32>,
    flaws: WeightedIndex<u32>,
}

impl SampleGenerator {
    /// A generator over the shipped schools (open, first or second degree), each on the ENT of
    /// its département, seeded.
    pub fn new(seed: u64) -> Self {
        let schools = Referential::shipped().schools().filter(|s| s.ouvert && s.degre != Degree::Autre).map(|s| (s.clone(), Ent::of_departement(s)));
        Self::of_schools(seed, schools.collect())
    }

    /// A generator over the schools of some deployments, each on the ENT it opened (its project,
    /// platform and operator), seeded; `None` when none of them is a school of `referential`.
    /// The deployments' days are not looked at: pass those open on the day traffic is for.
    pub fn deployed(seed: u64, referential: &Referential, deployments: &[Deployment]) -> Option<Self> {
        let schools: Vec<(School, Ent)> = deployments
            .iter()
            .filter_map(|d| {
                let ent = Ent { projet: d.projet.to_owned(), plateforme: d.plateforme, exploitant: d.exploitant };
                referential.school(&d.uai).map(|school| (school.clone(), ent))
            })
            .collect();
        (!schools.is_empty()).then(|| Self::of_schools(seed, schools))
    }

    fn of_schools(seed: u64, mut schools: Vec<(School, Ent)>) -> Self {
        schools.sort_by(|a, b| a.0.uai.cmp(&b.0.uai));
        let weights = |w: &[u32]| WeightedIndex::new(w.to_vec()).expect("positive weights");
        SampleGenerator {
            rng: StdRng::seed_from_u64(seed),
            by_enrolment: enrolment_weights(&schools),
            schools,
            profiles: weights(&PROFILES.map(|p| p.1)),
            services: weights(&SERVICES.map(|s| s.1)),
            flaws: weights(&FLAWS.map(|f| f.1)),
        }
    }

    /// Keeps only `n` of the schools, spread over them in UAI order (so over the départements).
    #[must_use]
    pub fn limit_schools(mut self, n: Option<usize>) -> Self {
        if let Some(n) = n.filter(|n| *n > 0 && *n < self.schools.len()) {
            let step = self.schools.len() / n;
            self.schools = self.schools.iter().step_by(step).take(n).cloned().collect();
            self.by_enrolment = enrolment_weights(&self.schools);
        }
        self
    }

    /// The next request line, from a new visitor.
    pub fn line(&mut self) -> String {
        let visitor = self.visitor();
        self.request(&visitor)
    }

    /// A visitor: a school drawn in proportion to its enrolment, a user of that school (pupils,
    /// parents, staff: ids up to twice the enrolment), a profile in realistic shares, and the
    /// school's ENT project and platform.
    pub fn visitor(&mut self) -> Visitor {
        let (school, ent) = self.schools[self.by_enrolment.sample(&mut self.rng)].clone();
        let Ent { projet, plateforme, exploitant } = ent;
        let population = school.enrolment.unwrap_or(DEFAULT_ENROLMENT).max(10) * 2;
        let user = format!("{}-{:05}", school.uai, self.rng.random_range(0..population));
        let profil = PROFILES[self.profiles.sample(&mut self.rng)].0;
        let site = 600_000 + u32::from(school.uai.as_bytes()[2] - b'0') * 1000;
        Visitor { uai: school.uai, projet, plateforme, exploitant, user, profil, site }
    }

    /// One request of a visitor: an SDK body of 1 to 5 events or a SmartTag hit, sometimes
    /// broken on purpose.
    pub fn request(&mut self, visitor: &Visitor) -> String {
        let flaw = FLAWS[self.flaws.sample(&mut self.rng)].0;
        if self.rng.random_bool(0.6) && flaw != Flaw::Legacy {
            let count = self.rng.random_range(1..=5);
            let events: Vec<Value> = (0..count).map(|i| self.piano_event(visitor, if i == 0 { flaw } else { Flaw::None })).collect();
            let mut body = json!({ "events": events }).to_string();
            if flaw == Flaw::MalformedJson {
                body.truncate(body.len() / 2);
            }
            format!("/event?s={}&idclient={}\t{body}", visitor.site, self.rng.random_range(0..u64::MAX))
        } else {
            format!("/hit.xiti?{}", self.xiti_query(visitor, flaw))
        }
    }

    /// A uniform draw in [0, 1), for callers that pace sessions.
    pub fn uniform(&mut self) -> f64 {
        self.rng.random()
    }

    fn pick_service(&mut self) -> (&'static str, &'static str, Option<&'static str>) {
        if self.rng.random_bool(0.08) {
            let outil = OUTILS.choose(&mut self.rng).expect("tools");
            return ("STOCKAGE_PARTAGE", "TIERS", Some(outil));
        }
        (SERVICES[self.services.sample(&mut self.rng)].0, "NATIF", None)
    }

    fn dnma_properties(&mut self, v: &Visitor, flaw: Flaw) -> Vec<(&'static str, String)> {
        let (mut service, mut service_type, mut outil) = self.pick_service();
        match flaw {
            Flaw::UnknownService => service = "JEUX_EN_LIGNE",
            Flaw::TiersWithoutOutil => (service_type, outil) = ("TIERS", None),
            Flaw::OutilWithoutTiers => (service_type, outil) = ("NATIF", Some("NEXTCLOUD")),
            _ => {}
        }
        let uai = if flaw == Flaw::CheckLetter { wrong_letter(&v.uai) } else { v.uai.clone() };
        let mut props = vec![
            ("service", service.to_owned()),
            ("type", service_type.to_owned()),
            ("uai", uai),
            ("projet", v.projet.clone()),
            ("exploitant", v.exploitant.to_owned()),
            ("plateforme", v.plateforme.to_owned()),
        ];
        if let Some(outil) = outil {
            props.push(("outil", outil.to_owned()));
        }
        if flaw != Flaw::MissingProfil {
            props.push(("profil", v.profil.to_owned()));
        }
        props
    }

    fn piano_event(&mut self, v: &Visitor, flaw: Flaw) -> Value {
        let mut data: Map<String, Value> = self.dnma_properties(v, flaw).into_iter().map(|(k, val)| (k.to_owned(), Value::String(val))).collect();
        let is_click = data.contains_key("outil") && self.rng.random_bool(0.5);
        data.insert("page".into(), Value::String(data["service"].as_str().unwrap_or_default().to_lowercase()));
        data.insert("site_level2".into(), Value::String(v.uai.clone()));
        data.insert("user_id".into(), Value::String(v.user.clone()));
        if flaw != Flaw::MissingProfil {
            data.insert("user_category".into(), Value::String(v.profil.to_owned()));
        }
        data.insert("user_recognition".into(), Value::Bool(true));
        data.insert("pageview_id".into(), Value::String(format!("{:x}", self.rng.random::<u32>())));
        data.insert("device_timestamp_utc".into(), json!(1_763_888_400.0 + f64::from(self.rng.random_range(0..86_400u32))));
        data.insert("event_collection_platform".into(), Value::String("js".into()));
        data.insert("event_collection_version".into(), Value::String("6.17.0".into()));
        data.insert("device_screen_width".into(), json!(1920));
        data.insert("visitor_privacy_mode".into(), Value::String("exempt".into()));
        let name = if is_click { "click.navigation" } else { "page.display" };
        json!({ "name": name, "data": data })
    }

    fn xiti_query(&mut self, v: &Visitor, flaw: Flaw) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("s", &v.site.to_string());
        let props = self.dnma_properties(v, flaw);
        if flaw == Flaw::Legacy {
            let legacy_service = ["9", "10", "3", "11"].choose(&mut self.rng).expect("codes");
            let legacy_profil = match v.profil {
                "ELEVE" => "1",
                "ENSEIGNANT" => "2",
                "PARENT" => "3",
                "ADMIN_VIE_SCOL_TECH" => "4",
                _ => "6",
            };
            query.extend_pairs([("x1", *legacy_service), ("x2", legacy_profil), ("x3", v.projet.as_str()), ("x4", v.plateforme)]);
            query.extend_pairs(props.iter().filter(|(k, _)| matches!(*k, "type" | "uai" | "exploitant" | "outil")).map(|(k, v)| (*k, v.as_str())));
        } else {
            let is_click = props.iter().any(|(k, _)| *k == "outil") && self.rng.random_bool(0.5);
            if is_click {
                query.extend_pairs([("type", "click"), ("click", "N")]);
            }
            query.append_pair("p", &props[0].1.to_lowercase());
            query.extend_pairs(props.iter().map(|(k, v)| (*k, v.as_str())));
        }
        query.extend_pairs([("s2", v.uai.as_str()), ("at", v.user.as_str()), ("ac", v.profil)]);
        query.append_pair("ts", &(1_763_888_400_000u64 + self.rng.random_range(0..86_400_000u64)).to_string());
        query.finish()
    }
}

impl Iterator for SampleGenerator {
    type Item = String;
    fn next(&mut self) -> Option<String> {
        Some(self.line())
    }
}

/// Who sends a request: a user of a school on its ENT.
#[derive(Debug, Clone)]
pub struct Visitor {
    uai: String,
    projet: String,
    plateforme: &'static str,
    exploitant: &'static str,
    user: String,
    profil: &'static str,
    site: u32,
}

impl Visitor {
    /// The visitor's school.
    pub fn uai(&self) -> &str {
        &self.uai
    }
}

fn enrolment_weights(schools: &[(School, Ent)]) -> WeightedIndex<u32> {
    WeightedIndex::new(schools.iter().map(|(s, _)| s.enrolment.unwrap_or(DEFAULT_ENROLMENT).max(1))).expect("schools with weights")
}

fn wrong_letter(uai: &str) -> String {
    let letter = uai.as_bytes()[7];
    let wrong = if letter == b'A' { 'B' } else { 'A' };
    format!("{}{wrong}", &uai[..7])
}

#[cfg(test)]
mod tests {
    use super::*;
    use tagging_plan::batch::LineValidator;
    use tagging_plan::{Plan, Validator};

    #[test]
    fn same_seed_same_lines_and_a_realistic_mix() {
        let a: Vec<String> = SampleGenerator::new(7).take(500).collect();
        let b: Vec<String> = SampleGenerator::new(7).take(500).collect();
        assert_eq!(a, b);
        let plan = Plan::shipped();
        let mut lines = LineValidator::new(Validator::new(&plan), None);
        let outcomes: Vec<_> = a.iter().enumerate().flat_map(|(i, l)| lines.line(i + 1, l)).collect();
        let invalid = outcomes.iter().filter(|o| !o.ok).count();
        // Between 0.5 % and 5 % of hits are broken on purpose.
        assert!(invalid * 200 >= outcomes.len() && invalid * 100 <= outcomes.len() * 5, "{invalid} of {}", outcomes.len());
        assert!(a.iter().any(|l| l.starts_with("/event")) && a.iter().any(|l| l.starts_with("/hit.xiti")));
    }
}
