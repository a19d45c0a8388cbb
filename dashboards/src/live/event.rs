//! What the live inspector shows of one log record: [`LiveEvent`], built from an accepted hit or
//! a dead letter of the log, the way the collector stored it. It holds the pseudonym the
//! collector computed and never a raw user id or an IP address (the log holds neither).

use chrono::TimeZone;
use collector::log::{StoredRecord, Topic};
use collector::record::{parse_pseudonym_property, DeadLetter, DeadLetterRecord, StoredHit, ID_PROPERTIES};
use serde::Serialize;
use utoipa::ToSchema;

/// One hit of a platform, accepted or refused, as the inspector streams it (one JSON object per
/// server-sent event).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LiveEvent {
    /// Receive time at the collector, RFC 3339 in Europe/Paris, to the millisecond.
    pub received: String,
    /// The same, ms since the epoch.
    pub received_ms: i64,
    /// Platform.
    pub plateforme: String,
    /// Wire format (`piano` or `xiti`).
    pub format: String,
    /// Event name (empty for a request refused as a whole).
    pub event: String,
    /// Site id, when it could be read.
    pub site: Option<String>,
    /// The pseudonymous visitor (32 hex digits), when the hit carried a user id.
    pub pseudonym: Option<String>,
    /// Accepted or refused, with what goes with each.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Accepted (with its tagging) or refused (with its reasons).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// The plan accepted it.
    Accepted(Tagging),
    /// The plan refused it.
    Refused {
        /// Why: stable code, field, value seen, message.
        reasons: Vec<Reason>,
        /// The properties sent, user ids replaced by `pseudonym:…` at the collector.
        properties: Vec<(String, String)>,
    },
}

/// The tagging fields of an accepted hit.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Tagging {
    /// Page name.
    pub page: Option<String>,
    /// Service code.
    pub service: String,
    /// `NATIF` / `TIERS`.
    pub service_type: String,
    /// Third-party tool.
    pub outil: Option<String>,
    /// School UAI.
    pub uai: String,
    /// Profile.
    pub profil: String,
    /// ENT project.
    pub projet: String,
    /// Operator.
    pub exploitant: String,
    /// Plan version that accepted it.
    pub plan_version: String,
    /// Warning codes (`legacy_code`…).
    pub warnings: Vec<String>,
    /// Whether it was replayed from a dead letter rather than received now.
    pub replayed: bool,
}

/// A reason for a refusal.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Reason {
    /// Stable code of the tagging-plan validation.
    pub code: String,
    /// Field.
    pub field: String,
    /// Value seen.
    pub value: Option<String>,
    /// Message.
    pub message: String,
}

/// RFC 3339 in Europe/Paris, to the millisecond.
fn paris_time(ms: i64) -> String {
    chrono_tz::Europe::Paris.timestamp_millis_opt(ms).single().map_or_else(String::new, |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false))
}

impl LiveEvent {
    /// The event of an accepted hit.
    pub fn accepted(hit: StoredHit, replayed: bool) -> Self {
        LiveEvent {
            received: paris_time(hit.received_ms),
            received_ms: hit.received_ms,
            plateforme: hit.plateforme,
            format: hit.format.as_str().to_owned(),
            event: hit.event,
            site: Some(hit.site),
            pseudonym: Some(hit.visitor.to_string()),
            outcome: Outcome::Accepted(Tagging {
                page: hit.page,
                service: hit.service,
                service_type: hit.service_type,
                outil: hit.outil,
                uai: hit.uai,
                profil: hit.profil,
                projet: hit.projet,
                exploitant: hit.exploitant,
                plan_version: hit.plan_version,
                warnings: hit.warnings,
                replayed,
            }),
        }
    }

    /// The event of a dead letter; `None` when it names no platform (no editor's).
    pub fn refused(letter: DeadLetter) -> Option<Self> {
        let plateforme = letter.plateforme?;
        let pseudonym = letter
            .properties
            .iter()
            .filter(|(name, _)| ID_PROPERTIES.contains(&name.as_str()))
            .find_map(|(_, value)| parse_pseudonym_property(value))
            .map(|p| p.to_string());
        Some(LiveEvent {
            received: paris_time(letter.received_ms),
            received_ms: letter.received_ms,
            plateforme,
            format: letter.format.as_str().to_owned(),
            event: letter.event,
            site: letter.site,
            pseudonym,
            outcome: Outcome::Refused {
                reasons: letter.reasons.into_iter().map(|r| Reason { code: r.code, field: r.field, value: r.value, message: r.message }).collect(),
                properties: letter.properties,
            },
        })
    }
}

/// The platform of a record of `topic` and a way to make its event, without building the event
/// (most records belong to platforms nobody watches). `None` for what is no hit of a platform
/// (a replay mark, a letter without platform, an undecodable record: logged).
pub fn decode(topic: Topic, record: &StoredRecord) -> Option<Decoded> {
    let decoded = match topic {
        // The only hit trailer says the hit was replayed from a dead letter.
        Topic::Hits => StoredHit::decode_with_trailer(&record.payload).map(|(hit, trailer)| Some(Decoded::Hit(Box::new(hit), trailer.is_some()))),
        Topic::DeadLetters => {
            DeadLetterRecord::decode(&record.payload).map(|r| r.into_letter().filter(|l| l.plateforme.is_some()).map(Decoded::Letter))
        }
    };
    decoded.unwrap_or_else(|e| {
        tracing::warn!(topic = topic.name(), partition = record.partition, offset = record.offset, error = %e, "live view: record skipped");
        None
    })
}

/// A decoded record of a platform.
#[derive(Debug)]
pub enum Decoded {
    /// An accepted hit; whether it was replayed.
    Hit(Box<StoredHit>, bool),
    /// A dead letter with a platform.
    Letter(DeadLetter),
}

impl Decoded {
    /// Its platform.
    pub fn plateforme(&self) -> &str {
        match self {
            Decoded::Hit(hit, _) => &hit.plateforme,
            Decoded::Letter(letter) => letter.plateforme.as_deref().unwrap_or_default(),
        }
    }

    /// Its event.
    pub fn into_event(self) -> Option<LiveEvent> {
        match self {
            Decoded::Hit(hit, replayed) => Some(LiveEvent::accepted(*hit, replayed)),
            Decoded::Letter(letter) => LiveEvent::refused(letter),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use collector::pseudonym::Pseudonym;
    use collector::record::{pseudonym_property, StoredReason};
    use collector::useragent::ClientClass;
    use tagging_plan::WireFormat;

    pub(crate) fn hit(plateforme: &str) -> StoredHit {
        StoredHit {
            received_ms: 1_789_000_000_123,
            client_time_ms: None,
            plan_version: "dnma-1".into(),
            format: WireFormat::Piano,
            event: "page.display".into(),
            site: "612345".into(),
            page: Some("accueil".into()),
            service: "COURRIER_ELECTRONIQUE".into(),
            service_type: "NATIF".into(),
            outil: None,
            uai: "0350122T".into(),
            projet: "ENT_35".into(),
            exploitant: "ODE".into(),
            plateforme: plateforme.into(),
            profil: "ELEVE".into(),
            visitor: Pseudonym([0xab; 16]),
            client: ClientClass { device: "ordinateur".into(), os: "windows".into(), browser: "chrome".into() },
            pageview_id: None,
            warnings: vec!["legacy_code".into()],
            extra: Vec::new(),
        }
    }

    pub(crate) fn letter(plateforme: Option<&str>) -> DeadLetter {
        DeadLetter {
            received_ms: 1_789_000_000_456,
            format: WireFormat::Piano,
            site: Some("612345".into()),
            plateforme: plateforme.map(Into::into),
            event: "page.display".into(),
            reasons: vec![StoredReason {
                code: "unknown_profile".into(),
                field: "profil".into(),
                value: Some("DIRECTEUR".into()),
                message: "…".into(),
            }],
            properties: vec![("profil".into(), "DIRECTEUR".into()), ("user_id".into(), pseudonym_property(&Pseudonym([0xcd; 16])))],
        }
    }

    fn stored(payload: Vec<u8>) -> StoredRecord {
        StoredRecord { partition: 0, offset: 7, payload }
    }

    #[test]
    fn an_accepted_hit_shows_its_tagging_and_pseudonym_as_json() {
        let decoded = decode(Topic::Hits, &stored(hit("ONE").encode())).unwrap();
        assert_eq!(decoded.plateforme(), "ONE");
        let json = serde_json::to_value(decoded.into_event().unwrap()).unwrap();
        assert_eq!(json["status"], "accepted");
        assert_eq!(json["pseudonym"], "ab".repeat(16));
        assert_eq!(json["service"], "COURRIER_ELECTRONIQUE");
        assert_eq!(json["uai"], "0350122T");
        assert_eq!(json["warnings"], serde_json::json!(["legacy_code"]));
        assert_eq!(json["replayed"], false);
        assert_eq!(json["received"], "2026-09-10T02:26:40.123+02:00", "Paris time");
        assert!(json.get("reasons").is_none());
        let replayed = decode(Topic::Hits, &stored(hit("ONE").encode_replayed(3))).unwrap().into_event().unwrap();
        assert!(matches!(replayed.outcome, Outcome::Accepted(Tagging { replayed: true, .. })));
    }

    #[test]
    fn a_dead_letter_shows_its_reasons_and_the_pseudonym_of_its_id_property() {
        let client = ClientClass { device: "mobile".into(), os: "android".into(), browser: "chrome".into() };
        let decoded = decode(Topic::DeadLetters, &stored(letter(Some("ONE")).encode_with_client(&client))).unwrap();
        assert_eq!(decoded.plateforme(), "ONE");
        let json = serde_json::to_value(decoded.into_event().unwrap()).unwrap();
        assert_eq!(json["status"], "refused");
        assert_eq!(json["reasons"][0]["code"], "unknown_profile");
        assert_eq!(json["reasons"][0]["field"], "profil");
        assert_eq!(json["pseudonym"], "cd".repeat(16));
        assert!(json.get("service").is_none());
    }

    #[test]
    fn what_is_no_platform_hit_is_skipped() {
        assert!(decode(Topic::DeadLetters, &stored(letter(None).encode())).is_none(), "no platform: no editor's");
        assert!(decode(Topic::Hits, &stored(b"\xff\xff\xff".to_vec())).is_none(), "undecodable");
        let mark = collector::record::ReplayMark::new(1, "batch", collector::record::ReplayStage::Done { positions: vec![1] });
        assert!(decode(Topic::DeadLetters, &stored(mark.encode())).is_none(), "a replay mark");
    }
}
