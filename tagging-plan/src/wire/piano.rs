//! The Piano Analytics SDK wire format (`piano-analytics-js` 6.x).
//!
//! `POST {collectDomain}/event?s={site}&idclient={visitor}` with the body
//! `{"events":[{"name":"page.display","data":{…}}, …]}`, sent as `text/plain` by sendBeacon or
//! by fetch. Every event of the body becomes one [`RawHit`] whose properties are the query
//! parameters followed by the event's `data`. Data values are JSON scalars: strings are taken as
//! they are, numbers and booleans as their JSON text (`"user_id": 12345` -> `12345`), nulls and
//! empty strings are absent. Names are lower-cased and lose Piano's type prefix (`s:`, `n:`,
//! `a:s:`…), so `SERVICE`, `service` and `s:service` are one property.

use serde_json::Value;

use super::{query_pairs, WireError};
use crate::raw_hit::{RawHit, WireFormat};

/// Parses an SDK request: its query string and its body.
pub fn parse_piano(query: &str, body: &[u8]) -> Result<Vec<RawHit>, WireError> {
    let body = std::str::from_utf8(body).map_err(|_| WireError::BodyNotUtf8)?;
    let json: Value = serde_json::from_str(body).map_err(|e| WireError::MalformedJson(e.to_string()))?;
    let events = json.get("events").and_then(Value::as_array).ok_or(WireError::MissingEvents)?;
    if events.is_empty() {
        return Err(WireError::EmptyEvents);
    }
    let query = query_pairs(query);
    Ok(events.iter().enumerate().map(|(index, event)| event_hit(&query, index, event)).collect())
}

fn event_hit(query: &[(String, String)], index: usize, event: &Value) -> RawHit {
    let name = event.get("name").and_then(Value::as_str).unwrap_or_default().trim().to_owned();
    let mut properties = query.to_vec();
    if let Some(data) = event.get("data").and_then(Value::as_object) {
        properties.reserve(data.len());
        for (key, value) in data {
            if let Some(text) = scalar_text(value) {
                properties.push((property_name(key), text));
            }
        }
    }
    RawHit { format: WireFormat::Piano, event: name, index, properties }
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

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        Value::Array(_) | Value::Object(_) => Some(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
