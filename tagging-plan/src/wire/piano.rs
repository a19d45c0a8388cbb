//! The Piano Analytics SDK wire format (`piano-analytics-js` 6.x).
//!
//! `POST {collectDomain}/event?s={site}&idclient={visitor}` with the body
//! `{"events":[{"name":"page.display","data":{…}}, …]}`, sent as `text/plain` by sendBeacon or
//! by fetch. Every event of the body becomes one [`RawHit`] whose properties are the query
//! parameters followed by the event's `data`. Data values are JSON scalars: strings are taken as
//! they are, numbers and booleans as their JSON text (`"user_id": 12345` -> `12345`), nulls and
//! empty strings are absent. Names are lower-cased and lose Piano's type prefix (`s:`, `n:`,
//! `a:s:`…), so `SERVICE`, `service` and `s:service` are one property.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{query_pairs, WireError};
use crate::raw_hit::{RawHit, WireFormat};

/// Parses an SDK request: its query string and its body.
///
/// The body is read in one pass into borrowed slices (no intermediate JSON tree): this is the
/// collector's hottest path.
pub fn parse_piano(query: &str, body: &[u8]) -> Result<Vec<RawHit>, WireError> {
    let body = std::str::from_utf8(body).map_err(|_| WireError::BodyNotUtf8)?;
    let parsed: BodyIn = serde_json::from_str(body).map_err(|e| WireError::MalformedJson(e.to_string()))?;
    let events = parsed.events.ok_or(WireError::MissingEvents)?;
    if events.is_empty() {
        return Err(WireError::EmptyEvents);
    }
    let query = query_pairs(query);
    Ok(events
        .into_iter()
        .enumerate()
        .map(|(index, event)| {
            let mut properties = Vec::with_capacity(query.len() + event.data.len());
            properties.extend_from_slice(&query);
            properties.extend(event.data);
            RawHit { format: WireFormat::Piano, event: event.name.trim().to_owned(), index, properties }
        })
        .collect())
}

/// The body: `events` is absent (`missing_events`) or an array.
#[derive(Deserialize)]
struct BodyIn {
    events: Option<Vec<EventIn>>,
}

/// One event. Any JSON value is accepted: a non-object is an event without name or data (the
/// validator then says `missing_event_name`).
#[derive(Default)]
struct EventIn {
    name: String,
    /// Properties: lower-cased names without type prefix, scalar values as text.
    data: Vec<(String, String)>,
}

/// A JSON value read leniently as an object: any other value reads as `Self::default()`.
trait FromObject<'de>: Default {
    /// Reads the object's entries.
    fn from_object<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// The visitor of [`FromObject`] types.
struct Lenient<T>(PhantomData<T>);

macro_rules! not_an_object {
    ($($method:ident: $t:ty),*) => {
        $(fn $method<E: serde::de::Error>(self, _: $t) -> Result<T, E> {
            Ok(T::default())
        })*
    };
}

impl<'de, T: FromObject<'de>> Visitor<'de> for Lenient<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    not_an_object!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: serde::de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(T::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_object(map)
    }
}

impl<'de> Deserialize<'de> for EventIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Lenient(PhantomData))
    }
}

impl<'de> FromObject<'de> for EventIn {
    fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut event = EventIn::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "name" => {
                    let name: &RawValue = map.next_value()?;
                    event.name = serde_json::from_str::<Cow<'_, str>>(name.get()).map(Cow::into_owned).unwrap_or_default();
                }
                "data" => event.data = map.next_value::<DataIn>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(event)
    }
}

/// An event's `data`: an object of properties (anything else: no properties).
#[derive(Default)]
struct DataIn(Vec<(String, String)>);

impl<'de> Deserialize<'de> for DataIn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Lenient(PhantomData))
    }
}

impl<'de> FromObject<'de> for DataIn {
    fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(32));
        while let Some((key, value)) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
            if let Some(text) = scalar_text(value) {
                entries.push((property_name(&key), text));
            }
        }
        Ok(DataIn(entries))
    }
}

/// The property name without Piano's type prefix, lower-cased.
fn property_name(key: &str) -> String {
    let mut name = key.trim();
    // Piano types a property with up to two one-letter prefixes: `s:x`, `a:s:x`.
    for _ in 0..2 {
        match name.split_once(':') {
            Some((prefix, rest)) if prefix.len() == 1 && prefix.bytes().all(|b| b.is_ascii_alphabetic()) => name = rest,
            _ => break,
        }
    }
    name.to_ascii_lowercase()
}

/// A JSON value as property text: strings as they are, numbers and booleans as their JSON text,
/// arrays and objects as their JSON text; null and blank strings are absent.
fn scalar_text(value: &RawValue) -> Option<String> {
    let text = value.get().trim();
    match text.as_bytes().first()? {
        b'"' => serde_json::from_str::<Cow<'_, str>>(text).ok().filter(|s| !s.trim().is_empty()).map(Cow::into_owned),
        b'n' => None,
        _ => Some(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    #[test]
    fn every_event_gets_the_query_and_its_own_data() {
        let body = br#"{"events":[
            {"name":"page.display","data":{"SERVICE":"NOTES","s:uai":"0350122T","user_id":42,"user_recognition":true}},
            {"name":"click.navigation","data":{"outil":"NEXTCLOUD","empty":"","gone":null}}]}"#;
        let hits = parse_piano("s=612345&idclient=abc", body).unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].event, "page.display");
        assert_eq!(hits[0].get("s"), Some("612345"));
        assert_eq!(hits[0].get("service"), Some("NOTES"));
        assert_eq!(hits[0].get("uai"), Some("0350122T"));
        assert_eq!(hits[0].get("user_id"), Some("42"));
        assert_eq!(hits[0].get("user_recognition"), Some("true"));
        assert_eq!((hits[1].index, hits[1].get("idclient")), (1, Some("abc")));
        assert_eq!(hits[1].get("empty"), None);
        assert_eq!(hits[1].get("gone"), None);
    }

    #[test]
    fn body_level_errors_have_codes() {
        assert_eq!(parse_piano("", b"{").unwrap_err().code(), "malformed_json");
        assert_eq!(parse_piano("", b"{}").unwrap_err().code(), "missing_events");
        assert_eq!(parse_piano("", br#"{"events":[]}"#).unwrap_err().code(), "empty_events");
        assert_eq!(parse_piano("", &[0xff, 0xfe]).unwrap_err().code(), "body_not_utf8");
    }

    #[test]
    fn type_prefixes_are_dropped() {
        assert_eq!(property_name("a:s:Tags"), "tags");
        assert_eq!(property_name("d:date"), "date");
        assert_eq!(property_name("ab:c"), "ab:c");
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..256), query in "\\PC{0,40}") {
            let _ = parse_piano(&query, &body);
        }

        #[test]
        fn string_properties_round_trip(values in proptest::collection::btree_map("[a-z_]{2,12}", "[^\\s]{1,20}", 1..8)) {
            let data: serde_json::Map<String, Value> = values.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            let body = serde_json::json!({"events": [{"name": "page.display", "data": data}]}).to_string();
            let hits = parse_piano("", body.as_bytes()).unwrap();
            for (k, v) in &values {
                prop_assert_eq!(hits[0].get(k), Some(v.as_str()));
            }
        }
    }
}
