//! Property test of the rule against an attacker who sees every output: random territory trees
//! (région → académie → département → circonscriptions and schools), each school's visits split
//! by profile and by device, every figure additive (unique visitors too: the attacker's best
//! case, as when every visitor uses one school). The base set is decided as
//! [`super::Suppressed::territorial`] groups it, the device breakdown as a layer over it (the
//! open data by device). The attacker then subtracts wherever one figure of a sum is unknown —
//! a total minus its visible parts, a hidden total as the sum of its parts — for every measure,
//! over the published groups and over the sums they imply (a territory as the sum of its
//! schools, a territory's profile as the sum of its schools' profile), again and again with
//! what it recovered. No cell under k may come out. A second test adds a school dimension (each
//! school of one kind), with or without its crossing with the profiles, all in one table as
//! [`super::Suppressed::territorial`] decides them. (Decided as layers, the kinds over the base
//! and their profiles over the kinds, the same attack recovers small cells: a kind's cell equal
//! to a school's, shown in the base, leaves a layer nothing to hide with.)

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::rule::{Group, Table};

const K: u64 = 5;
const PROFILES: u8 = 3;
const DEVICES: u8 = 2;

/// A cell: (territory node, profile, device); `None` is "all".
type Key = (usize, Option<u8>, Option<u8>);

/// Visits, visitors, page views, clicks, duration.
type Measures = [u64; 5];

fn measures(visitors: u64) -> Measures {
    if visitors == 0 {
        return [0; 5];
    }
    [visitors * 2 + 1, visitors, visitors * 3 + 2, visitors / 2 + 1, visitors * 61 + 7]
}

/// One school: visitors per (profile, device).
type Leaf = Vec<u64>;

#[derive(Debug, Clone)]
struct Tree {
    parent: Vec<Option<usize>>,
    leaves: BTreeMap<usize, Leaf>,
}

fn leaf() -> impl Strategy<Value = Leaf> {
    // Many zeros and small counts, some large.
    prop::collection::vec(prop_oneof![3 => Just(0u64), 4 => 1u64..5, 3 => 5u64..40], usize::from(PROFILES * DEVICES))
}

fn departement() -> impl Strategy<Value = (Vec<Vec<Leaf>>, Vec<Leaf>)> {
    (prop::collection::vec(prop::collection::vec(leaf(), 1..4), 0..3), prop::collection::vec(leaf(), 0..4))
}

fn tree() -> impl Strategy<Value = Tree> {
    prop::collection::vec(prop::collection::vec(prop::collection::vec(departement(), 1..4), 1..3), 1..3).prop_map(|regions| {
        let mut t = Tree { parent: vec![None], leaves: BTreeMap::new() };
        let node = |t: &mut Tree, parent: usize| {
            t.parent.push(Some(parent));
            t.parent.len() - 1
        };
        for academies in regions {
            let region = node(&mut t, 0);
            for departements in academies {
                let academie = node(&mut t, region);
                for (circonscriptions, direct) in departements {
                    let departement = node(&mut t, academie);
                    for schools in circonscriptions {
                        let circonscription = node(&mut t, departement);
                        for l in schools {
                            let school = node(&mut t, circonscription);
                            t.leaves.insert(school, l);
                        }
                    }
                    for l in direct {
                        let school = node(&mut t, departement);
                        t.leaves.insert(school, l);
                    }
                }
            }
        }
        t
    })
}

fn ancestors(t: &Tree, mut n: usize) -> Vec<usize> {
    let mut path = vec![n];
    while let Some(p) = t.parent[n] {
        path.push(p);
        n = p;
    }
    path
}

/// Every cell's figures: each school's leaves summed into every ancestor, profile and device.
fn figures(t: &Tree) -> BTreeMap<Key, Measures> {
    let mut cells: BTreeMap<Key, Measures> = BTreeMap::new();
    for (school, leaf) in &t.leaves {
        for (i, v) in leaf.iter().enumerate() {
            let (p, d) = (u8::try_from(i).unwrap() / DEVICES, u8::try_from(i).unwrap() % DEVICES);
            let m = measures(*v);
            for n in ancestors(t, *school) {
                for key in [(n, None, None), (n, Some(p), None), (n, None, Some(d))] {
                    let cell = cells.entry(key).or_insert([0; 5]);
                    for (c, x) in cell.iter_mut().zip(m) {
                        *c += x;
                    }
                }
            }
        }
    }
    // Leaves summed per measure: a cell with visits has visitors (measures(0) is all zeros).
    cells.retain(|_, m| m[1] > 0);
    cells
}

fn children(t: &Tree) -> BTreeMap<usize, Vec<usize>> {
    let mut children: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (n, p) in t.parent.iter().enumerate() {
        if let Some(p) = p {
            children.entry(*p).or_default().push(n);
        }
    }
    children
}

/// The groups of the base set, as `Suppressed::territorial` makes them.
fn base_groups(t: &Tree) -> Vec<Group<Key>> {
    let mut groups = Vec::new();
    let columns: Vec<Option<u8>> = std::iter::once(None).chain((0..PROFILES).map(Some)).collect();
    for column in &columns {
        for (parent, under) in children(t) {
            groups.push(Group { total: (parent, *column, None), parts: under.iter().map(|c| (*c, *column, None)).collect() });
        }
    }
    for n in 0..t.parent.len() {
        groups.push(Group { total: (n, None, None), parts: (0..PROFILES).map(|p| (n, Some(p), None)).collect() });
    }
    groups
}

/// The open data by device: each school's total and its devices.
fn device_groups(t: &Tree) -> Vec<Group<Key>> {
    t.leaves.keys().map(|s| Group { total: (*s, None, None), parts: (0..DEVICES).map(|d| (*s, None, Some(d))).collect() }).collect()
}

/// Sums the published groups imply: each territory as the sum of the schools under it (all
/// visits and per profile).
fn implied_groups(t: &Tree) -> Vec<Group<Key>> {
    let mut under: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for school in t.leaves.keys() {
        for a in ancestors(t, *school).into_iter().skip(1) {
            under.entry(a).or_default().push(*school);
        }
    }
    let mut groups = Vec::new();
    for column in std::iter::once(None).chain((0..PROFILES).map(Some)) {
        for (a, schools) in &under {
            groups.push(Group { total: (*a, column, None), parts: schools.iter().map(|s| (*s, column, None)).collect() });
        }
    }
    groups
}

/// What an attacker learns: every published figure, then every subtraction, to a fixed point.
fn attack(cells: &BTreeMap<Key, Measures>, hidden: &BTreeSet<Key>, groups: &[Group<Key>]) -> BTreeMap<Key, Measures> {
    let value = |k: &Key| cells.get(k).copied().unwrap_or([0; 5]);
    let mut known: BTreeMap<Key, Measures> = BTreeMap::new();
    for g in groups {
        for k in std::iter::once(&g.total).chain(&g.parts) {
            if !hidden.contains(k) {
                known.insert(*k, value(k));
            }
        }
    }
    loop {
        let mut learned = false;
        for g in groups {
            let unknown: Vec<&Key> = std::iter::once(&g.total).chain(&g.parts).filter(|k| !known.contains_key(*k)).collect();
            let &[lone] = unknown.as_slice() else { continue };
            let m: Measures = std::array::from_fn(|i| {
                let parts: u64 = g.parts.iter().filter(|p| *p != lone).map(|p| known[p][i]).sum();
                if *lone == g.total {
                    parts
                } else {
                    known[&g.total][i] - parts
                }
            });
            known.insert(*lone, m);
            learned = true;
        }
        if !learned {
            return known;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_small_cell_is_recovered_by_subtraction(t in tree()) {
        let cells = figures(&t);
        let base = base_groups(&t);
        let mut table = Table::new();
        for (key, m) in cells.iter().filter(|(k, _)| k.2.is_none()) {
            table.cell(*key, m[1]);
        }
        for g in &base {
            table.group(g.total, g.parts.clone());
        }
        let outcome = table.suppress(K);
        prop_assert!(outcome.unprotected.is_empty(), "{:?}", outcome.unprotected);
        // The device layer over the decided base.
        let devices = device_groups(&t);
        let mut layer = Table::new();
        for (key, m) in cells.iter().filter(|(k, _)| k.2.is_some()) {
            layer.cell(*key, m[1]);
        }
        for g in &devices {
            layer.freeze(g.total, cells.get(&g.total).map_or(0, |m| m[1]), outcome.hidden.contains(&g.total));
            layer.group(g.total, g.parts.clone());
        }
        let on_top = layer.suppress(K);
        let hidden: BTreeSet<Key> = outcome.hidden.iter().chain(&on_top.hidden).copied().collect();
        let primary: BTreeSet<Key> = outcome.primary.iter().chain(&on_top.primary).copied().collect();
        prop_assert!(cells.iter().all(|(k, m)| (m[1] >= K) || hidden.contains(k)), "every cell under k is hidden");
        for g in base.iter().chain(&devices) {
            let n = std::iter::once(&g.total).chain(&g.parts).filter(|k| hidden.contains(*k)).count();
            prop_assert!(n != 1, "group {g:?} has one hidden cell");
        }
        let mut all = base.clone();
        all.extend(devices);
        all.extend(implied_groups(&t));
        let known = attack(&cells, &hidden, &all);
        for p in &primary {
            prop_assert!(!known.contains_key(p), "cell {p:?} ({:?}) recovered", cells.get(p));
        }
    }

    #[test]
    fn no_small_cell_is_recovered_across_kinds_of_school_and_profiles(t in tree(), crossed in any::<bool>()) {
        let mut cells = figures_by_kind(&t);
        if !crossed {
            cells.retain(|k, _| k.1.is_none() || k.2.is_none());
        }
        let groups = kind_groups(&t, &cells, crossed);
        let mut table = Table::new();
        for (key, m) in &cells {
            table.cell(*key, m[1]);
        }
        for g in &groups {
            table.group(g.total, g.parts.clone());
        }
        let outcome = table.suppress(K);
        prop_assert!(outcome.unprotected.is_empty(), "{:?}", outcome.unprotected);
        prop_assert!(cells.iter().all(|(k, m)| (m[1] >= K) || outcome.hidden.contains(k)), "every cell under k is hidden");
        let all: Vec<Group<Key>> = groups.into_iter().chain(implied_kind_groups(&t, crossed)).collect();
        let known = attack(&cells, &outcome.hidden, &all);
        for p in &outcome.primary {
            prop_assert!(!known.contains_key(p), "cell {p:?} ({:?}) recovered", cells.get(p));
        }
    }
}

/// Kinds of school in [`figures_by_kind`].
const KINDS: u8 = 3;

/// The kind of a school (its node).
fn kind_of(school: usize) -> u8 {
    u8::try_from(school % usize::from(KINDS)).unwrap()
}

/// Every cell's figures by profile and kind of school (a key's third part is the kind here):
/// each school's visits per profile (its devices summed), in its kind.
fn figures_by_kind(t: &Tree) -> BTreeMap<Key, Measures> {
    let mut cells: BTreeMap<Key, Measures> = BTreeMap::new();
    for (school, leaf) in &t.leaves {
        let kind = kind_of(*school);
        for (p, per_device) in leaf.chunks(usize::from(DEVICES)).enumerate() {
            let p = u8::try_from(p).unwrap();
            for v in per_device {
                let m = measures(*v);
                for n in ancestors(t, *school) {
                    for key in [(n, None, None), (n, Some(p), None), (n, None, Some(kind)), (n, Some(p), Some(kind))] {
                        let cell = cells.entry(key).or_insert([0; 5]);
                        for (c, x) in cell.iter_mut().zip(m) {
                            *c += x;
                        }
                    }
                }
            }
        }
    }
    cells.retain(|_, m| m[1] > 0);
    cells
}

/// The groups of the base set with kinds of school, as `Suppressed::territorial` makes them,
/// over the cells that have visits: the territory tree in every column (all, each profile, each
/// kind, each kind's profiles), and each territory's total with its profiles and with its kinds,
/// each kind with its profiles, each profile with its kinds.
fn kind_groups(t: &Tree, cells: &BTreeMap<Key, Measures>, crossed: bool) -> Vec<Group<Key>> {
    let group = |total: Key, parts: Vec<Key>| Group { total, parts: parts.into_iter().filter(|k| cells.contains_key(k)).collect() };
    let profiles: Vec<Option<u8>> = (0..PROFILES).map(Some).collect();
    let kinds: Vec<Option<u8>> = (0..KINDS).map(Some).collect();
    let mut groups = base_groups(t);
    for n in 0..t.parent.len() {
        groups.push(group((n, None, None), kinds.iter().map(|k| (n, None, *k)).collect()));
        for k in kinds.iter().filter(|_| crossed) {
            groups.push(group((n, None, *k), profiles.iter().map(|p| (n, *p, *k)).collect()));
        }
        for p in profiles.iter().filter(|_| crossed) {
            groups.push(group((n, *p, None), kinds.iter().map(|k| (n, *p, *k)).collect()));
        }
    }
    for (parent, under) in children(t) {
        for k in &kinds {
            groups.push(group((parent, None, *k), under.iter().map(|c| (*c, None, *k)).collect()));
            for p in profiles.iter().filter(|_| crossed) {
                groups.push(group((parent, *p, *k), under.iter().map(|c| (*c, *p, *k)).collect()));
            }
        }
    }
    groups.retain(|g| !g.parts.is_empty());
    groups
}

/// Sums the published groups imply, in every column of kind and profile: each territory as the
/// sum of the schools under it.
fn implied_kind_groups(t: &Tree, crossed: bool) -> Vec<Group<Key>> {
    let mut groups = implied_groups(t);
    let mut under: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for school in t.leaves.keys() {
        for a in ancestors(t, *school).into_iter().skip(1) {
            under.entry(a).or_default().push(*school);
        }
    }
    for k in 0..KINDS {
        for column in std::iter::once(None).chain((0..PROFILES).map(Some).filter(|_| crossed)) {
            for (a, schools) in &under {
                groups.push(Group { total: (*a, column, Some(k)), parts: schools.iter().map(|s| (*s, column, Some(k))).collect() });
            }
        }
    }
    groups
}
