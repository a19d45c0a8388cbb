//! Reassembly of `SmartTag` hits split in parts (`mh=i-n-id`). Each part repeats the hit's header
//! parameters (`s`, `idclient`, `ts`…) and carries a share of the rest; the whole hit is part 1
//! followed by every other part's parameters not already present, without `mh`. Parts wait
//! under a caller-chosen key (site, visitor cookie and id) until the last arrives or they expire.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use super::{multihit_marker, query_pairs};

/// What pushing a part gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assembled {
    /// The hit was not split: its query as given.
    Single,
    /// The last part arrived: the whole hit's query string.
    Complete(String),
    /// More parts are awaited.
    Waiting,
    /// The `mh` mark is malformed, or disagrees with the parts already seen.
    Invalid(String),
}

#[derive(Debug)]
struct Pending {
    count: u16,
    first_seen_ms: u64,
    parts: BTreeMap<u16, String>,
}

/// The sender of a SmartTag part: its site and visitor cookie (`s`, `idclient`), the key under
/// which its parts wait (with the `mh` id).
pub fn sender_key(query: &str) -> String {
    let pairs = query_pairs(query);
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_ref());
    format!("{}\u{1f}{}", get("s"), get("idclient"))
}

/// Holds parts until their hit is complete.
#[derive(Debug, Default)]
pub struct MultiHitAssembler {
    pending: HashMap<String, Pending>,
}

impl MultiHitAssembler {
    /// Pushes one `SmartTag` query string received at `now_ms`. `key` should identify the
    /// sender (e.g. site and client address hash); the `mh` id is added to it.
    pub fn push(&mut self, key: &str, query: &str, now_ms: u64) -> Assembled {
        let marker = match multihit_marker(query) {
            None => return Assembled::Single,
            Some(Err(bad)) => return Assembled::Invalid(format!("malformed mh mark {bad:?}")),
            Some(Ok(marker)) => marker,
        };
        let full_key = format!("{key}\u{1f}{}", marker.id);
        let pending =
            self.pending.entry(full_key.clone()).or_insert_with(|| Pending { count: marker.count, first_seen_ms: now_ms, parts: BTreeMap::new() });
        if pending.count != marker.count {
            return Assembled::Invalid(format!("part {} says {} parts, earlier parts said {}", marker.part, marker.count, pending.count));
        }
        pending.parts.insert(marker.part, query.to_owned());
        if pending.parts.len() < usize::from(pending.count) {
            return Assembled::Waiting;
        }
        let parts = self.pending.remove(&full_key).map(|p| p.parts).unwrap_or_default();
        Assembled::Complete(join_parts(parts.values().map(String::as_str)))
    }

    /// Removes the incomplete hits first seen before `before_ms`; returns their parts' queries.
    pub fn expire(&mut self, before_ms: u64) -> Vec<Vec<String>> {
        let expired: Vec<String> = self.pending.iter().filter(|(_, p)| p.first_seen_ms < before_ms).map(|(k, _)| k.clone()).collect();
        expired.into_iter().filter_map(|k| self.pending.remove(&k)).map(|p| p.parts.into_values().collect()).collect()
    }

    /// How many split hits are waiting.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }
}

fn join_parts<'a>(parts: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::new();
    for part in parts {
        for (name, value) in query_pairs(part) {
            if name != "mh" && !seen.iter().any(|(n, v)| *n == name && *v == value) {
                seen.push((name, value));
            }
        }
    }
    form_urlencoded::Serializer::new(String::new()).extend_pairs(seen).finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse_xiti;
    use proptest::prelude::*;

    #[test]
    fn joins_parts_in_any_order() {
        let mut a = MultiHitAssembler::default();
        assert_eq!(a.push("k", "s=1&idclient=v&mh=2-2-x&uai=0350122T", 0), Assembled::Waiting);
        let Assembled::Complete(q) = a.push("k", "s=1&idclient=v&mh=1-2-x&service=NOTES", 5) else { panic!() };
        let hit = parse_xiti(&q);
        assert_eq!((hit.get("service"), hit.get("uai"), hit.get("mh")), (Some("NOTES"), Some("0350122T"), None));
        assert_eq!(hit.values("s").count(), 1);
        assert_eq!(a.waiting(), 0);
    }

    #[test]
    fn incomplete_hits_expire() {
        let mut a = MultiHitAssembler::default();
        assert_eq!(a.push("k", "mh=1-3-x&s=1", 0), Assembled::Waiting);
        assert_eq!(a.push("k", "mh=2-3-x&p=a", 10), Assembled::Waiting);
        assert_eq!(a.push("other", "mh=1-2-y", 100), Assembled::Waiting);
        let expired = a.expire(50);
        assert_eq!(expired, vec![vec!["mh=1-3-x&s=1".to_owned(), "mh=2-3-x&p=a".to_owned()]]);
        assert_eq!(a.waiting(), 1);
        assert_eq!(a.push("k", "s=1", 0), Assembled::Single);
        assert!(matches!(a.push("k", "mh=9-3-x", 0), Assembled::Invalid(_)));
        assert!(matches!(a.push("other", "mh=2-5-y", 0), Assembled::Invalid(_)));
    }

    proptest! {
        #[test]
        fn any_split_reassembles_to_the_same_hit(
            values in proptest::collection::btree_map("[a-z][a-z0-9]{0,6}", "[A-Za-z0-9 éà_-]{1,12}", 1..12),
            parts in 1usize..5,
            order_seed in any::<u64>(),
        ) {
            let pairs: Vec<(String, String)> = values.into_iter().filter(|(k, _)| k != "mh" && k != "s").collect();
            let chunk = pairs.len().div_ceil(parts).max(1);
            let chunks: Vec<_> = pairs.chunks(chunk).collect();
            let n = chunks.len();
            let mut queries: Vec<String> = chunks.iter().enumerate().map(|(i, c)| {
                let mut s = form_urlencoded::Serializer::new(String::new());
                s.append_pair("s", "1").append_pair("mh", &format!("{}-{n}-id", i + 1));
                s.extend_pairs(c.iter());
                s.finish()
            }).collect();
            let rotate = usize::try_from(order_seed % (n.max(1) as u64)).unwrap();
            queries.rotate_left(rotate);
            let mut a = MultiHitAssembler::default();
            let mut result = None;
            for q in &queries { if let Assembled::Complete(q) = a.push("k", q, 0) { result = Some(q); } }
            if pairs.is_empty() { return Ok(()); }
            let whole = result.expect("complete");
            let hit = parse_xiti(&whole);
            for (k, v) in &pairs { prop_assert_eq!(hit.get(k), Some(v.trim()).filter(|v| !v.is_empty()).map(|_| v.as_str())); }
        }
    }
}
