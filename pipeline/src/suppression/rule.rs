//! The suppression rule on an abstract table: cells (each with its unique visitors) and groups
//! (a total and the parts that add up to it). Primary suppression hides every cell with 1 to
//! k − 1 visitors; secondary suppression then makes every group hold none or at least two hidden
//! cells, so that no subtraction "total − visible parts" (nor "Σ parts" for a hidden total)
//! gives one hidden cell back. It runs to a fixed point: a cell hidden to protect one group may
//! leave another group (where it is a total, or a part) with a single hidden cell, which is then
//! protected in turn.
//!
//! The second cell of a group is its smallest visible part with visits (fewest visitors, ties
//! broken by the cell's key), else the group's total: the choice is deterministic, so every
//! output built from the same cells hides the same ones. Cells whose state an earlier layer
//! decided ([`Table::freeze`]) are never chosen, nor is the lone part of a group whose total
//! was decided so (the part is that total), nor such a group's total. A cell absent from the
//! table has no visit: it is a published zero, never hidden nor chosen (hiding it protects
//! nothing, as a school's activity shows elsewhere).

use std::collections::{BTreeMap, BTreeSet};

// (Hashed with foldhash, not SipHash: a base set hashes tens of thousands of cells per request.)
use datafusion::common::{HashMap, HashSet};
use std::hash::Hash;

/// One group: a total and the parts that add up to it (for every additive measure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<K> {
    /// The cell holding the sum.
    pub total: K,
    /// The cells it is the sum of.
    pub parts: Vec<K>,
}

/// The cells and groups of every output that shows the same period and filters.
#[derive(Debug, Clone)]
pub struct Table<K> {
    visitors: BTreeMap<K, u64>,
    frozen: BTreeMap<K, bool>,
    groups: Vec<Group<K>>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table { visitors: BTreeMap::new(), frozen: BTreeMap::new(), groups: Vec::new() }
    }
}

/// What the rule hid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<K> {
    /// Every hidden cell (primary, secondary and frozen hidden).
    pub hidden: BTreeSet<K>,
    /// Cells hidden because they have fewer than k visitors.
    pub primary: BTreeSet<K>,
    /// Groups left with a single hidden cell because no cell could be hidden with it (every
    /// other cell is zero or frozen visible by an earlier layer); empty in a consistent table.
    pub unprotected: Vec<Group<K>>,
}

impl<K: Ord + Clone + Hash> Table<K> {
    /// An empty table.
    pub fn new() -> Self {
        Table::default()
    }

    /// Adds a cell with its unique visitors (a cell added twice keeps the larger count).
    pub fn cell(&mut self, key: K, visitors: u64) {
        let entry = self.visitors.entry(key).or_insert(0);
        *entry = (*entry).max(visitors);
    }

    /// Adds a cell whose state an earlier layer decided: hidden or not, it stays so and is never
    /// chosen as a second cell.
    pub fn freeze(&mut self, key: K, visitors: u64, hidden: bool) {
        self.cell(key.clone(), visitors);
        self.frozen.insert(key, hidden);
    }

    /// Adds a group (its cells need not have been added: absent ones are zeros).
    pub fn group(&mut self, total: K, parts: Vec<K>) {
        if !parts.is_empty() {
            self.groups.push(Group { total, parts });
        }
    }

    /// The groups.
    pub fn groups(&self) -> &[Group<K>] {
        &self.groups
    }

    /// The unique visitors of a cell (0 when absent).
    pub fn visitors(&self, key: &K) -> u64 {
        self.visitors.get(key).copied().unwrap_or(0)
    }

    /// Applies primary then secondary suppression with threshold `k`.
    pub fn suppress(&self, k: u64) -> Outcome<K> {
        // The rule runs on the cells' ranks in key order (a tie between two parts goes to the
        // lower rank, as it goes to the lower key): a base set has tens of thousands of cells,
        // and comparing their keys at every step was most of its cost.
        let mut keys: Vec<&K> = self
            .visitors
            .keys()
            .chain(self.groups.iter().flat_map(|g| std::iter::once(&g.total).chain(&g.parts)))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        keys.sort_unstable();
        let ranks: HashMap<&K, usize> = keys.iter().enumerate().map(|(i, key)| (*key, i)).collect();
        let rank = |key: &K| ranks[key];
        let mut visitors = vec![0; keys.len()];
        for (key, v) in &self.visitors {
            visitors[rank(key)] = *v;
        }
        let groups: Vec<(usize, Vec<usize>, Vec<usize>)> = self
            .groups
            .iter()
            .map(|g| {
                let (total, parts): (usize, Vec<usize>) = (rank(&g.total), g.parts.iter().map(&rank).collect());
                let members: Vec<usize> = std::iter::once(total).chain(parts.iter().copied()).collect::<BTreeSet<_>>().into_iter().collect();
                (total, parts, members)
            })
            .collect();
        let decided = lone_parts_followed(&self.frozen.iter().map(|(key, state)| (rank(key), *state)).collect::<Vec<_>>(), &groups, &visitors, k);
        let primary: Vec<usize> = (0..keys.len()).filter(|&i| decided[i].is_none() && (1..k).contains(&visitors[i])).collect();
        let mut hidden = vec![false; keys.len()];
        for &i in &primary {
            hidden[i] = true;
        }
        for (i, state) in decided.iter().enumerate() {
            hidden[i] |= *state == Some(true);
        }
        let choosable = |i: usize, hidden: &[bool]| visitors[i] > 0 && !hidden[i] && decided[i].is_none();
        let mut unprotected = Vec::new();
        loop {
            unprotected.clear();
            let mut changed = false;
            for (g, (total, parts, members)) in groups.iter().enumerate() {
                if members.iter().filter(|m| hidden[**m]).count() != 1 {
                    continue;
                }
                let second = parts
                    .iter()
                    .copied()
                    .filter(|p| choosable(*p, &hidden))
                    .min_by(|a, b| visitors[*a].cmp(&visitors[*b]).then_with(|| a.cmp(b)))
                    .or_else(|| Some(*total).filter(|t| choosable(*t, &hidden)));
                match second {
                    Some(cell) => {
                        hidden[cell] = true;
                        changed = true;
                    }
                    None => unprotected.push(g),
                }
            }
            if !changed {
                break;
            }
        }
        Outcome {
            hidden: (0..keys.len()).filter(|&i| hidden[i]).map(|i| keys[i].clone()).collect(),
            primary: primary.into_iter().map(|i| keys[i].clone()).collect(),
            unprotected: unprotected.into_iter().map(|g| self.groups[g].clone()).collect(),
        }
    }
}

/// The state of every cell an earlier layer decided (`frozen`, by rank), and of the cells a
/// group of one part makes equal to one of them: that part is its total (a school's only kind,
/// a territory's only device…), so when one of the two is decided, the other takes its state,
/// to a fixed point along chains of such groups. Hiding or showing it alone would give the
/// decided one away. (A shown state is not followed to a cell under `k`: that inconsistency is
/// left to be reported.)
fn lone_parts_followed(frozen: &[(usize, bool)], groups: &[(usize, Vec<usize>, Vec<usize>)], visitors: &[u64], k: u64) -> Vec<Option<bool>> {
    let mut decided: Vec<Option<bool>> = vec![None; visitors.len()];
    for &(i, state) in frozen {
        decided[i] = Some(state);
    }
    let lone: Vec<(usize, usize)> = groups.iter().filter(|(_, parts, _)| parts.len() == 1).map(|(total, parts, _)| (*total, parts[0])).collect();
    loop {
        // (Each pass reads the states as they were when it began, then sets what it found.)
        let mut follows = Vec::new();
        for &(total, part) in &lone {
            for (from, to) in [(total, part), (part, total)] {
                if let (Some(hidden), None) = (decided[from], decided[to]) {
                    if visitors[to] > 0 && (hidden || visitors[to] >= k) {
                        follows.push((to, hidden));
                    }
                }
            }
        }
        if follows.is_empty() {
            return decided;
        }
        for (i, state) in follows {
            decided[i] = Some(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cells: &[(&'static str, u64)], groups: &[(&'static str, &[&'static str])]) -> Table<&'static str> {
        let mut t = Table::new();
        for (key, v) in cells {
            t.cell(*key, *v);
        }
        for (total, parts) in groups {
            t.group(*total, parts.to_vec());
        }
        t
    }

    fn hidden(outcome: &Outcome<&'static str>) -> Vec<&'static str> {
        outcome.hidden.iter().copied().collect()
    }

    #[test]
    fn a_small_part_is_hidden_with_the_smallest_other_part() {
        let t = table(&[("03", 40), ("a", 4), ("b", 9), ("c", 7), ("d", 7)], &[("03", &["a", "b", "c", "d"])]);
        let outcome = t.suppress(5);
        // c and d tie on visitors: the code breaks the tie.
        assert_eq!(hidden(&outcome), ["a", "c"]);
        assert_eq!(outcome.primary.iter().copied().collect::<Vec<_>>(), ["a"]);
        assert!(outcome.unprotected.is_empty());
    }

    #[test]
    fn zero_parts_are_never_chosen_and_a_lone_part_takes_its_total() {
        // b has no visit: hiding it would protect nothing; the total goes instead, and the total
        // then needs a second cell in the group above.
        let t =
            table(&[("fr", 80), ("limoges", 30), ("87", 4), ("23", 20), ("19", 26)], &[("limoges", &["87", "b"]), ("fr", &["limoges", "23", "19"])]);
        assert_eq!(hidden(&t.suppress(5)), ["23", "87", "limoges"]);
    }

    #[test]
    fn every_group_ends_with_none_or_two_hidden_cells() {
        let t = table(
            &[("n", 100), ("r1", 60), ("r2", 40), ("a", 3), ("b", 57), ("c", 20), ("d", 20)],
            &[("n", &["r1", "r2"]), ("r1", &["a", "b"]), ("r2", &["c", "d"])],
        );
        let outcome = t.suppress(5);
        // a forces b (the only other part); r1 then is fine (two hidden below it, itself shown).
        assert_eq!(hidden(&outcome), ["a", "b"]);
        for g in t.groups() {
            let n = std::iter::once(&g.total).chain(&g.parts).filter(|c| outcome.hidden.contains(*c)).count();
            assert_ne!(n, 1, "{g:?}");
        }
    }

    #[test]
    fn frozen_cells_keep_their_state_and_are_never_chosen() {
        let mut t = table(&[("s:ordinateur", 3), ("s:tablette", 30), ("s:smartphone", 8)], &[("s", &["s:ordinateur", "s:tablette", "s:smartphone"])]);
        t.freeze("s", 41, false);
        let outcome = t.suppress(5);
        assert_eq!(hidden(&outcome), ["s:ordinateur", "s:smartphone"]);
        let mut lone = table(&[("s:ordinateur", 3)], &[("s", &["s:ordinateur"])]);
        lone.freeze("s", 3, false);
        assert_eq!(lone.suppress(5).unprotected.len(), 1, "reported, not silently accepted");
    }

    #[test]
    fn without_small_cells_nothing_is_hidden() {
        let t = table(&[("n", 10), ("a", 5), ("b", 5)], &[("n", &["a", "b"])]);
        assert!(t.suppress(5).hidden.is_empty());
    }
}
