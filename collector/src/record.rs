//! What the collector writes to the log: [`StoredHit`] for accepted hits, [`DeadLetter`] for
//! refused ones, both encoded with `postcard` (compact binary, not JSON). Neither holds a raw
//! user id, an IP address or a raw User-Agent: the visitor is a [`Pseudonym`], the client a
//! [`ClientClass`], and a dead letter's properties have their id fields replaced by the
//! pseudonym.

use serde::{Deserialize, Serialize};
use tagging_plan::{Hit, Rejection, WireFormat};

use crate::pseudonym::Pseudonym;
use crate::useragent::ClientClass;

/// Wire properties that carry a user id: replaced by the pseudonym in dead letters.
pub const ID_PROPERTIES: [&str; 4] = ["user_id", "idclient", "at", "an"];

/// The value an id property of a dead letter gets in place of the user id.
pub fn pseudonym_property(pseudonym: &Pseudonym) -> String {
    format!("pseudonym:{pseudonym}")
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

/// A refused request or event, as stored for editors.
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
