//! The AT Internet `SmartTag` wire format (`GET /hit.xiti?…`, `SmartTag` 5.x).
//!
//! Every parameter becomes a property (lower-cased names, percent-decoded values). The event is
//! `page.display`, or `click.navigation|action|exit|download` when the hit carries
//! `click=N|A|S|T`. A click hit's own `type=click` collides with the DNMA `TYPE` property: a
//! `type` value that is a `SmartTag` hit type (`click`) is renamed `hit_type`, so `TYPE` keeps only
//! `NATIF`/`TIERS`. Hits longer than about 2000 bytes are split into parts marked `mh=i-n-id`:
//! [`multihit_marker`] reads that mark; the collector reassembles the parts before parsing.

use std::borrow::Cow;

use super::query_pairs;
use crate::raw_hit::{RawHit, WireFormat};

/// `SmartTag` hit types that may appear in a `type` parameter.
const HIT_TYPES: [&str; 2] = ["click", "clic"];

/// Parses a `SmartTag` query string (with or without its leading `?`).
pub fn parse_xiti(query: &str) -> RawHit<'_> {
    let mut properties = query_pairs(query);
    for (name, value) in &mut properties {
        if name == "type" && HIT_TYPES.iter().any(|t| value.trim().eq_ignore_ascii_case(t)) {
            *name = Cow::Borrowed("hit_type");
        }
    }
    let click = properties.iter().find(|(k, v)| k == "click" && !v.trim().is_empty()).map(|(_, v)| v.trim());
    let event = match click {
        None => Cow::Borrowed("page.display"),
        Some(kind) => match kind.to_ascii_uppercase().as_str() {
            "N" => Cow::Borrowed("click.navigation"),
            "A" => Cow::Borrowed("click.action"),
            "S" => Cow::Borrowed("click.exit"),
            "T" => Cow::Borrowed("click.download"),
            other => Cow::Owned(format!("click.{}", other.to_ascii_lowercase())),
        },
    };
    RawHit { format: WireFormat::Xiti, event, index: 0, properties }
}

/// The `mh=i-n-id` mark of one part of a split `SmartTag` hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiHitMarker {
    /// This part's number, from 1.
    pub part: u16,
    /// How many parts make the hit.
    pub count: u16,
    /// The id shared by the parts.
    pub id: String,
}

/// Reads the `mh` parameter of a `SmartTag` query string, if any. A malformed mark (`mh=x`, part 0,
/// part over count) yields `Some(Err(value))` so the caller can reject the part.
pub fn multihit_marker(query: &str) -> Option<Result<MultiHitMarker, String>> {
    let value = query_pairs(query).into_iter().find(|(k, _)| k == "mh").map(|(_, v)| v.into_owned())?;
    let mut fields = value.splitn(3, '-');
    let part = fields.next().and_then(|p| p.parse::<u16>().ok());
    let count = fields.next().and_then(|c| c.parse::<u16>().ok());
    let id = fields.next().filter(|id| !id.is_empty());
    Some(match (part, count, id) {
        (Some(part), Some(count), Some(id)) if part >= 1 && part <= count => Ok(MultiHitMarker { part, count, id: id.to_owned() }),
        _ => Err(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn page_hit_with_properties() {
        let hit = parse_xiti("?s=612345&p=messagerie&s2=0350122T&at=u1&ac=1&service=COURRIER_ELECTRONIQUE&uai=0350122T");
        assert_eq!(hit.event, "page.display");
        assert_eq!(hit.get("p"), Some("messagerie"));
        assert_eq!(hit.get("ac"), Some("1"));
    }

    #[test]
    fn click_type_does_not_collide_with_dnma_type() {
        let hit = parse_xiti("s=1&type=click&click=N&p=nextcloud&type=TIERS&outil=NEXTCLOUD");
        assert_eq!(hit.event, "click.navigation");
        assert_eq!(hit.values("type").collect::<Vec<_>>(), ["TIERS"]);
        assert_eq!(hit.get("hit_type"), Some("click"));
    }

    #[test]
    fn click_kinds() {
        for (k, e) in [("A", "click.action"), ("s", "click.exit"), ("T", "click.download"), ("Z", "click.z")] {
            assert_eq!(parse_xiti(&format!("click={k}")).event, e);
        }
    }

    #[test]
    fn multihit_marks() {
        assert_eq!(multihit_marker("s=1&mh=2-3-abc"), Some(Ok(MultiHitMarker { part: 2, count: 3, id: "abc".into() })));
        assert_eq!(multihit_marker("s=1"), None);
        assert_eq!(multihit_marker("mh=4-3-abc"), Some(Err("4-3-abc".into())));
        assert_eq!(multihit_marker("mh=0-3-abc"), Some(Err("0-3-abc".into())));
        assert_eq!(multihit_marker("mh=1-3"), Some(Err("1-3".into())));
    }

    proptest! {
        #[test]
        fn never_panics(q in "\\PC{0,200}") {
            let _ = parse_xiti(&q);
            let _ = multihit_marker(&q);
        }

        #[test]
        fn encoded_values_round_trip(values in proptest::collection::btree_map("[a-z][a-z0-9_]{0,10}", "\\PC{1,30}", 1..8)) {
            let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(values.iter()).finish();
            let hit = parse_xiti(&query);
            for (k, v) in &values {
                if k == "type" && HIT_TYPES.iter().any(|t| v.trim().eq_ignore_ascii_case(t)) { continue; }
                if v.trim().is_empty() { continue; }
                prop_assert_eq!(hit.get(k), Some(v.as_str()));
            }
        }
    }
}
