//! [`RawHit`]: one event as it came off the wire, before the plan is applied. Both wire formats
//! parse into it: property names are lower-cased, values are strings, nothing is checked yet.
//! Names and values borrow from the request where they can (most SDK properties need no
//! unescaping or lower-casing), so parsing a body allocates little.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// The wire format a hit arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireFormat {
    /// Piano Analytics SDK: `POST /event?s=…&idclient=…` with a JSON body of events.
    Piano,
    /// AT Internet `SmartTag`: `GET /hit.xiti?…`.
    Xiti,
}

impl WireFormat {
    /// `piano` or `xiti`.
    pub fn as_str(self) -> &'static str {
        match self {
            WireFormat::Piano => "piano",
            WireFormat::Xiti => "xiti",
        }
    }
}

/// One event off the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawHit<'a> {
    /// The format it arrived in.
    pub format: WireFormat,
    /// The event name (`page.display`, `click.navigation`…); empty when the event had none.
    pub event: Cow<'a, str>,
    /// Position of the event in its request (0 for `SmartTag`).
    pub index: usize,
    /// Properties with lower-case names, in wire order; the query string's parameters first.
    /// A name may repeat (the validator rejects conflicting repeats).
    pub properties: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'h> RawHit<'h> {
    /// Every non-empty value of a property.
    pub fn values<'s, 'n>(&'s self, name: &'n str) -> impl Iterator<Item = &'s str> + use<'s, 'n, 'h> {
        self.properties.iter().filter(move |(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.as_ref())
    }

    /// The first non-empty value of a property.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.properties.iter().find(|(k, v)| k == name && !v.trim().is_empty()).map(|(_, v)| v.as_ref())
    }

    /// The same hit, owning its strings (to keep it after the request is gone).
    #[must_use]
    pub fn into_owned(self) -> RawHit<'static> {
        RawHit {
            format: self.format,
            event: Cow::Owned(self.event.into_owned()),
            index: self.index,
            properties: self.properties.into_iter().map(|(k, v)| (Cow::Owned(k.into_owned()), Cow::Owned(v.into_owned()))).collect(),
        }
    }
}
