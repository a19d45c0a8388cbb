//! The Piano Analytics SDK wire format (`piano-analytics-js` 6.x).
//!
//! `POST {collectDomain}/event?s={site}&idclient={visitor}` with the body
//! `{"events":[{"name":"page.display","data":{…}}, …]}`, sent as `text/plain` by sendBeacon or
//! by fetch. Every event of the body becomes one [`RawHit`] whose properties are the query
//! parameters followed by the event's `data`. Data values are JSON scalars: strings are taken as
//! they are, numbers and booleans as their JSON text (`"user_id": 12345` -> `12345`), nulls and
//! empty strings are absent. Names are lower-cased and lose Piano's type prefix (`s:`, `n:`,
//! `a:s:`…), so `SERVICE`, `service` and `s:service` are one property. Names and values borrow
//! from the body unless they hold JSON escapes or capitals.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{lowercase_trimmed, query_pairs, trimmed, WireError};
use crate::raw_hit::{RawHit, WireFormat};

/// Parses an SDK request: its query string and its body.
///
/// The body is read in one pass into borrowed slices (no intermediate JSON tree): this is the
/// collector's hottest path.
pub fn parse_piano<'a>(query: &'a str, body: &'a [u8]) -> Result<Vec<RawHit<'a>>, WireError> {
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
            RawHit { format: WireFormat::Piano, event: trimmed(event.name), index, properties }
        })
        .collect())
}

/// The body: `events` is absent (`missing_events`) or an array.
#[derive(Deserialize)]
struct BodyIn<'a> {
    #[serde(borrow)]
    events: Option<Vec<EventIn<'a>>>,
}

/// One event. Any JSON value is accepted: a non-object is an event without name or data (the
/// validator then says `missing_event_name`).
#[derive(Default)]
struct EventIn<'a> {
    name: Cow<'a, str>,
    /// Properties: lower-cased names without type prefix, scalar values as text.
    data: Vec<(Cow<'a, str>, Cow<'a, str>)>,
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

impl<'de: 'a, 'a> Deserialize<'de> for EventIn<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Lenient(PhantomData))
    }
}

impl<'de: 'a, 'a> FromObject<'de> for EventIn<'a> {
    fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut event = EventIn::default();
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "name" => {
                    let name: &'de RawValue = map.next_value()?;
                    event.name = json_string(name.get()).unwrap_or_default();
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
struct DataIn<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'de: 'a, 'a> Deserialize<'de> for DataIn<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(Lenient(PhantomData))
    }
}

impl<'de: 'a, 'a> FromObject<'de> for DataIn<'a> {
    fn from_object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(32));
        while let Some((Text(key), value)) = map.next_entry::<Text<'de>, &'de RawValue>()? {
            if let Some(text) = scalar_text(value) {
                entries.push((property_name(key), text));
            }
        }
        Ok(DataIn(entries))
    }
}

/// A JSON string borrowed from the body, or decoded when it holds escapes. (`Cow<str>`'s own
/// `Deserialize` always allocates.)
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor)
    }
}

/// The visitor of [`Text`].
struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(text)))
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(text)))
    }
}

/// The property name without Piano's type prefix, lower-cased.
fn property_name(key: Cow<'_, str>) -> Cow<'_, str> {
    match key {
        Cow::Borrowed(key) => lowercase_trimmed(Cow::Borrowed(without_type_prefix(key))),
        Cow::Owned(key) => Cow::Owned(lowercase_trimmed(Cow::Borrowed(without_type_prefix(&key))).into_owned()),
    }
}

/// Piano types a property with up to two one-letter prefixes: `s:x`, `a:s:x`.
fn without_type_prefix(key: &str) -> &str {
    let mut name = key.trim();
    for _ in 0..2 {
        match name.split_once(':') {
            Some((prefix, rest)) if prefix.len() == 1 && prefix.bytes().all(|b| b.is_ascii_alphabetic()) => name = rest,
            _ => break,
        }
    }
    name
}

/// The text of a JSON string literal (`"…"`, already validated by the parser): borrowed when it
/// holds no escape; `None` when the literal is not a string.
fn json_string(literal: &str) -> Option<Cow<'_, str>> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(literal).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// A JSON value as property text: strings as they are, numbers and booleans as their JSON text,
/// arrays and objects as their JSON text; null and blank strings are absent.
fn scalar_text(value: &RawValue) -> Option<Cow<'_, str>> {
    let text = value.get().trim();
    match text.as_bytes().first()? {
        b'"' => json_string(text).filter(|s| !s.trim().is_empty()),
        b'n' => None,
        _ => Some(Cow::Borrowed(text)),
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
        assert_eq!(property_name("a:s:Tags".into()), "tags");
        assert_eq!(property_name("d:date".into()), "date");
        assert_eq!(property_name("ab:c".into()), "ab:c");
        assert_eq!(property_name(Cow::Owned(" S:Service ".to_owned())), "service");
    }

    #[test]
    fn plain_names_and_values_borrow_from_the_body_escaped_ones_are_decoded() {
        let body = br#"{"events":[{"name":"page.display","data":{"service":"NOTES","Uai":"0350122T","page":"a\"b\u00e9","n":12.50,"x\u0041":"y"}}]}"#;
        let hits = parse_piano("s=1", body).unwrap();
        let borrowed = |name: &str| {
            hits[0].properties.iter().find(|(k, _)| k == name).map(|(k, v)| (matches!(k, Cow::Borrowed(_)), matches!(v, Cow::Borrowed(_))))
        };
        assert!(matches!(hits[0].event, Cow::Borrowed("page.display")));
        assert_eq!(borrowed("service"), Some((true, true)));
        assert_eq!(borrowed("uai"), Some((false, true)), "a name with capitals is lower-cased");
        assert_eq!(borrowed("page"), Some((true, false)), "an escaped value is decoded");
        assert_eq!(hits[0].get("page"), Some("a\"b\u{e9}"));
        assert_eq!(hits[0].get("n"), Some("12.50"), "a number keeps its JSON text");
        assert_eq!(hits[0].get("xa"), Some("y"), "an escaped name is decoded and lower-cased");
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
