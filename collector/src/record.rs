//! What the collector writes to the log: [`StoredHit`] for accepted hits, [`DeadLetter`] for
//! refused ones, both encoded with `postcard` (compact binary, not JSON). Neither holds a raw
//! user id, an IP address or a raw User-Agent: the visitor is a [`Pseudonym`], the client a
//! [`ClientClass`], and a dead letter's properties have their id fields replaced by the
//! pseudonym.
//!
//! `postcard` is not self-describing: a record is its fields in order, and a reader stops after
//! the last field it knows. So fields added after a layout was first written go in a
//! *trailer* after it, a `postcard` enum whose variant says which fields follow: readers of the
//! first layout ignore it, and a record written before it has none (its trailer is empty).
//! - a dead letter's trailer ([`LetterTrailer`]) holds the client class of its request, so a
//!   replayed hit gets the classes it would have had (dead letters written before it: none);
//! - a hit's trailer ([`HitTrailer`]) says which dead letter it was replayed from (hits
//!   accepted live: none).
//!
//! The dead-letter topic also holds the marks of replays ([`ReplayMark`], see
//! [`crate::replay`]): [`DeadLetterRecord::decode`] tells them from letters. A mark starts with
//! its time, as every record does (retention reads only that), then [`REPLAY_MARK_KIND`] where a
//! letter has its wire format.

use serde::{Deserialize, Serialize};
use tagging_plan::{Hit, Rejection, WireFormat};

use crate::pseudonym::Pseudonym;
use crate::useragent::ClientClass;

/// Wire properties that carry a user id: replaced by the pseudonym in dead letters.
pub const ID_PROPERTIES: [&str; 4] = ["user_id", "idclient", "at", "an"];

/// The value an id property of a dead letter gets in place of the user id.
pub fn pseudonym_property(pseudonym: &Pseudonym) -> String {
    format!("{PSEUDONYM_PREFIX}{pseudonym}")
}

const PSEUDONYM_PREFIX: &str = "pseudonym:";

/// The pseudonym an id property of a dead letter holds (`None` for any other value).
pub fn parse_pseudonym_property(value: &str) -> Option<Pseudonym> {
    let mut bytes = [0u8; crate::pseudonym::PSEUDONYM_BYTES];
    hex::decode_to_slice(value.strip_prefix(PSEUDONYM_PREFIX)?, &mut bytes).ok()?;
    Some(Pseudonym(bytes))
}

/// An accepted hit, as stored. (Its own flat layout: `postcard` needs every field written,
/// so the JSON-oriented [`Hit`] is not embedded.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredHit {
    /// Receive time at the collector, ms since the epoch (UTC).
    pub received_ms: i64,
    /// Client clock, ms since the epoch, when sent.
    pub client_time_ms: Option<i64>,
    /// Plan version that accepted it.
    pub plan_version: String,
    /// Wire format.
    pub format: WireFormat,
    /// `page.display` or a click event.
    pub event: String,
    /// Site id.
    pub site: String,
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
    /// ENT project.
    pub projet: String,
    /// Operator.
    pub exploitant: String,
    /// Platform.
    pub plateforme: String,
    /// Profile.
    pub profil: String,
    /// The pseudonymous visitor.
    pub visitor: Pseudonym,
    /// Device, OS and browser classes.
    pub client: ClientClass,
    /// SDK page-view id.
    pub pageview_id: Option<String>,
    /// Warning codes.
    pub warnings: Vec<String>,
    /// Custom variables of the plan.
    pub extra: Vec<(String, String)>,
}

impl StoredHit {
    /// The stored form of a validated hit (its raw visitor id is dropped here).
    pub fn new(hit: Hit, visitor: Pseudonym, client: ClientClass, received_ms: i64) -> Self {
        StoredHit {
            received_ms,
            client_time_ms: hit.client_time_ms,
            plan_version: hit.plan_version,
            format: hit.format,
            event: hit.event,
            site: hit.site,
            page: hit.page,
            service: hit.service,
            service_type: hit.service_type,
            outil: hit.outil,
            uai: hit.uai,
            projet: hit.projet,
            exploitant: hit.exploitant,
            plateforme: hit.plateforme,
            profil: hit.profil,
            visitor,
            client,
            pageview_id: hit.pageview_id,
            warnings: hit.warnings.into_iter().map(|w| w.code).collect(),
            extra: hit.extra.into_iter().collect(),
        }
    }
}

/// A rejection reason as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReason {
    /// Stable code.
    pub code: String,
    /// Field.
    pub field: String,
    /// Value seen (shortened; user ids never appear here: their fields have no value rule).
    pub value: Option<String>,
    /// Message.
    pub message: String,
}

impl From<Rejection> for StoredReason {
    /// Keeps the reason, except what could quote a user id: a reason about `visitor_id` loses
    /// its value and message.
    fn from(r: Rejection) -> Self {
        if r.field == "visitor_id" {
            let message = format!("the visitor id was refused ({})", r.code);
            return StoredReason { code: r.code, field: r.field, value: None, message };
        }
        StoredReason { code: r.code, field: r.field, value: r.value, message: r.message }
    }
}

/// A refused request or event, as stored for editors (its first layout; the client class of
/// its request, when recorded, is in its [`LetterTrailer`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// Receive time at the collector, ms since the epoch (UTC).
    pub received_ms: i64,
    /// Wire format.
    pub format: WireFormat,
    /// Site id, when it could be read.
    pub site: Option<String>,
    /// Platform, when it could be read (the editor's view filters on it).
    pub plateforme: Option<String>,
    /// Event name (empty for a request refused as a whole).
    pub event: String,
    /// Why it was refused.
    pub reasons: Vec<StoredReason>,
    /// The event's properties, user ids pseudonymized (empty when the request was unreadable).
    pub properties: Vec<(String, String)>,
}

/// Why a stored record cannot be decoded.
#[derive(Debug, thiserror::Error)]
#[error("undecodable log record: {0}")]
pub struct DecodeError(#[from] postcard::Error);

/// Bytes reserved for an encoded record (a hit takes 150 to 250).
const ENCODE_CAPACITY: usize = 256;

macro_rules! codec {
    ($t:ty) => {
        impl $t {
            /// Encodes for the log.
            pub fn encode(&self) -> Vec<u8> {
                // Sized for a typical record at once: growing from empty reallocates ~6 times.
                postcard::to_extend(self, Vec::with_capacity(ENCODE_CAPACITY)).expect("in-memory encoding cannot fail")
            }

            /// Decodes a log record.
            pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
                Ok(postcard::from_bytes(bytes)?)
            }
        }
    };
}

codec!(StoredHit);
codec!(DeadLetter);

/// Fields of a dead letter written after its first layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LetterTrailer {
    /// The client class of the request (from its User-Agent).
    Client(ClientClass),
}

/// Fields of a stored hit written after its first layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HitTrailer {
    /// Replayed from the dead letter at this [`crate::log::position`] of the dead-letter topic.
    Replayed(u64),
}

/// Appends a trailer to an encoded record.
fn with_trailer(record: Vec<u8>, trailer: &impl Serialize) -> Vec<u8> {
    postcard::to_extend(trailer, record).expect("in-memory encoding cannot fail")
}

/// Decodes the trailer after a record's first layout (`None`: the record has none).
fn trailer<'a, T: Deserialize<'a>>(rest: &'a [u8]) -> Result<Option<T>, DecodeError> {
    if rest.is_empty() {
        Ok(None)
    } else {
        Ok(Some(postcard::from_bytes(rest)?))
    }
}

impl DeadLetter {
    /// Encodes for the log, with the client class of its request in the trailer.
    pub fn encode_with_client(&self, client: &ClientClass) -> Vec<u8> {
        with_trailer(self.encode(), &LetterTrailer::Client(client.clone()))
    }
}

impl StoredHit {
    /// Encodes a hit replayed from the dead letter at `position` (said in the trailer).
    pub fn encode_replayed(&self, position: u64) -> Vec<u8> {
        with_trailer(self.encode(), &HitTrailer::Replayed(position))
    }

    /// The hit and its trailer, if any.
    pub fn decode_with_trailer(bytes: &[u8]) -> Result<(Self, Option<HitTrailer>), DecodeError> {
        let (hit, rest) = postcard::take_from_bytes::<StoredHit>(bytes)?;
        Ok((hit, trailer(rest)?))
    }
}

/// What [`REPLAY_MARK_KIND`] stands in place of: a dead letter's wire format (0 or 1).
pub const REPLAY_MARK_KIND: u32 = 255;

/// A mark of a replay of dead letters, in the dead-letter topic ([`crate::replay`] says how
/// they make a replay idempotent and safe from a crash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayMark {
    /// When it was written, ms since the epoch (UTC).
    pub written_ms: i64,
    /// Always [`REPLAY_MARK_KIND`] (where a dead letter has its wire format).
    kind: u32,
    /// The replay batch it belongs to (unique).
    pub batch: String,
    /// Begun or done.
    pub stage: ReplayStage,
}

/// The two marks of a replay batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayStage {
    /// Written before the batch's hits are appended: the dead letters (positions) it replays,
    /// and where each partition of the hit topic ended then (its hits lie beyond).
    Begun {
        /// Positions of the dead letters replayed.
        positions: Vec<u64>,
        /// The next offset of each partition of the hit topic before the batch's appends.
        hits_end: Vec<u64>,
    },
    /// Written once the batch's hits are durable: the dead letters whose hits are in the hit
    /// log (the others of its `Begun` mark were not appended).
    Done {
        /// Positions of the dead letters whose hits were appended.
        positions: Vec<u64>,
    },
}

impl ReplayMark {
    /// A mark of a batch.
    pub fn new(written_ms: i64, batch: impl Into<String>, stage: ReplayStage) -> Self {
        ReplayMark { written_ms, kind: REPLAY_MARK_KIND, batch: batch.into(), stage }
    }

    /// Encodes for the dead-letter topic.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("in-memory encoding cannot fail")
    }
}

/// A record of the dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub enum DeadLetterRecord {
    /// A refused event or request.
    Letter {
        /// The letter.
        letter: DeadLetter,
        /// The client class of its request (`None` when not recorded: a whole request refused,
        /// or a letter written before client classes were kept).
        client: Option<ClientClass>,
    },
    /// A mark of a replay.
    Mark(ReplayMark),
}

impl DeadLetterRecord {
    /// Decodes a record of the dead-letter topic: a letter of either layout, or a mark.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let ((_, kind), _) = postcard::take_from_bytes::<(i64, u32)>(bytes)?;
        if kind == REPLAY_MARK_KIND {
            return Ok(DeadLetterRecord::Mark(postcard::from_bytes(bytes)?));
        }
        let (letter, rest) = postcard::take_from_bytes::<DeadLetter>(bytes)?;
        let client = trailer::<LetterTrailer>(rest)?.map(|LetterTrailer::Client(client)| client);
        Ok(DeadLetterRecord::Letter { letter, client })
    }

    /// The letter, `None` for a mark.
    pub fn into_letter(self) -> Option<DeadLetter> {
        match self {
            DeadLetterRecord::Letter { letter, .. } => Some(letter),
            DeadLetterRecord::Mark(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tagging_plan::WireFormat;

    /// A dead letter as the collector wrote it before trailers existed (bytes frozen: they must
    /// decode as long as such records may be in a log).
    const LETTER_FIRST_LAYOUT: &str = "8088ad8b91680101013101034d424e0c706167652e646973706c6179010f756e6b6e6f776e5f73657276696365077365727669636501044a4555580f6e6f7420696e2074686520706c616e03017301310261742a70736575646f6e796d3a30313233343536373839616263646566303132333435363738396162636465660773657276696365044a455558";

    /// A stored hit as the collector writes it live (no trailer).
    const HIT_FIRST_LAYOUT: &str = "8088ad8b916801b0f8ac8b916806646e6d612d31010c706167652e646973706c6179013101076163637565696c054e4f544553054e415449460008303934303137364606454e545f3934034f4445034d424e05454c455645000102030405060708090a0b0c0d0e0f0a6f7264696e61746575720777696e646f7773066368726f6d65000000";

    fn letter() -> DeadLetter {
        DeadLetter {
            received_ms: 1_789_000_000_000,
            format: WireFormat::Xiti,
            site: Some("1".into()),
            plateforme: Some("MBN".into()),
            event: "page.display".into(),
            reasons: vec![StoredReason {
                code: "unknown_service".into(),
                field: "service".into(),
                value: Some("JEUX".into()),
                message: "not in the plan".into(),
            }],
            properties: vec![
                ("s".into(), "1".into()),
                ("at".into(), "pseudonym:0123456789abcdef0123456789abcdef".into()),
                ("service".into(), "JEUX".into()),
            ],
        }
    }

    fn hit() -> StoredHit {
        StoredHit {
            received_ms: 1_789_000_000_000,
            client_time_ms: Some(1_788_999_999_000),
            plan_version: "dnma-1".into(),
            format: WireFormat::Xiti,
            event: "page.display".into(),
            site: "1".into(),
            page: Some("accueil".into()),
            service: "NOTES".into(),
            service_type: "NATIF".into(),
            outil: None,
            uai: "0940176F".into(),
            projet: "ENT_94".into(),
            exploitant: "ODE".into(),
            plateforme: "MBN".into(),
            profil: "ELEVE".into(),
            visitor: Pseudonym(std::array::from_fn(|i| u8::try_from(i).unwrap())),
            client: ClientClass { device: "ordinateur".into(), os: "windows".into(), browser: "chrome".into() },
            pageview_id: None,
            warnings: Vec::new(),
            extra: Vec::new(),
        }
    }

    fn chrome() -> ClientClass {
        ClientClass { device: "ordinateur".into(), os: "windows".into(), browser: "chrome".into() }
    }

    #[test]
    fn pseudonym_properties_read_back() {
        let p = Pseudonym([0xab; 16]);
        assert_eq!(parse_pseudonym_property(&pseudonym_property(&p)), Some(p));
        assert_eq!(parse_pseudonym_property("eleve-42"), None);
        assert_eq!(parse_pseudonym_property("pseudonym:abcd"), None, "16 bytes or nothing");
    }

    #[test]
    fn a_dead_letter_of_the_first_layout_still_decodes_without_a_client() {
        let bytes = hex::decode(LETTER_FIRST_LAYOUT).unwrap();
        assert_eq!(letter().encode(), bytes, "the first layout is what `encode` writes");
        assert_eq!(DeadLetter::decode(&bytes).unwrap(), letter());
        assert_eq!(DeadLetterRecord::decode(&bytes).unwrap(), DeadLetterRecord::Letter { letter: letter(), client: None });
    }

    #[test]
    fn a_dead_letter_with_its_client_reads_back_and_old_readers_still_read_it() {
        let bytes = letter().encode_with_client(&chrome());
        assert!(bytes.starts_with(&hex::decode(LETTER_FIRST_LAYOUT).unwrap()), "the trailer follows the first layout");
        assert_eq!(DeadLetterRecord::decode(&bytes).unwrap(), DeadLetterRecord::Letter { letter: letter(), client: Some(chrome()) });
        assert_eq!(DeadLetter::decode(&bytes).unwrap(), letter(), "a reader of the first layout ignores the trailer");
    }

    #[test]
    fn a_replayed_hit_says_where_it_came_from_and_reads_as_any_hit() {
        let live = hex::decode(HIT_FIRST_LAYOUT).unwrap();
        assert_eq!(hit().encode(), live);
        assert_eq!(StoredHit::decode_with_trailer(&live).unwrap(), (hit(), None));
        let replayed = hit().encode_replayed(1 << 48 | 7);
        assert_eq!(StoredHit::decode(&replayed).unwrap(), hit(), "the pipeline reads a replayed hit as any hit");
        assert_eq!(StoredHit::decode_with_trailer(&replayed).unwrap(), (hit(), Some(HitTrailer::Replayed(1 << 48 | 7))));
    }

    #[test]
    fn marks_are_told_from_letters_and_no_letter_reader_takes_one_for_a_letter() {
        let begun = ReplayMark::new(1_800_000_000_000, "b1", ReplayStage::Begun { positions: vec![3, 1 << 48], hits_end: vec![10, 0] });
        let bytes = begun.encode();
        assert_eq!(DeadLetterRecord::decode(&bytes).unwrap(), DeadLetterRecord::Mark(begun.clone()));
        assert!(DeadLetterRecord::decode(&bytes).unwrap().into_letter().is_none());
        assert!(DeadLetter::decode(&bytes).is_err(), "a mark is not a letter");
        assert_eq!(postcard::take_from_bytes::<i64>(&bytes).unwrap().0, 1_800_000_000_000, "retention reads its time first");
        let done = ReplayMark::new(1_800_000_000_001, "b1", ReplayStage::Done { positions: vec![3] });
        assert_eq!(DeadLetterRecord::decode(&done.encode()).unwrap(), DeadLetterRecord::Mark(done));
    }
}
