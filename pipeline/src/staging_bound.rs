//! Where a step stops staging: the log's end, per partition, when the step began. Records
//! appended meanwhile wait for the next step. Without this bound a member under steady traffic
//! keeps finding a few more records at the log's tail and never reaches its computation.

use std::collections::{BTreeMap, BTreeSet};

use collector::log::Partition;

/// The log's end offsets of a topic when a step began staging, and how far the step has read.
#[derive(Debug, Clone)]
pub struct StagingBound {
    /// The end of each partition (indexed by partition) when the step began.
    end: Vec<u64>,
    /// The offset to read next, per partition: committed when the step began, then read.
    at: BTreeMap<Partition, u64>,
}

impl StagingBound {
    /// The bound of a step that began when the topic's partitions ended at `end` (indexed by
    /// partition, as [`collector::log::HitLog::end_offsets`] gives them) and its group had
    /// committed `committed`.
    #[must_use]
    pub fn new(end: Vec<u64>, committed: BTreeMap<Partition, u64>) -> Self {
        StagingBound { end, at: committed }
    }

    /// Notes the offsets to read next after a batch, per partition read.
    pub fn read(&mut self, read: &BTreeMap<Partition, u64>) {
        for (&partition, &next) in read {
            let at = self.at.entry(partition).or_default();
            *at = (*at).max(next);
        }
    }

    /// Whether the step has read up to the bound on every partition its member owns (`None`:
    /// every partition).
    #[must_use]
    pub fn reached(&self, owned: Option<&BTreeSet<Partition>>) -> bool {
        self.end.iter().zip(0..).all(|(&end, partition): (&u64, Partition)| {
            owned.is_some_and(|o| !o.contains(&partition)) || self.at.get(&partition).copied().unwrap_or(0) >= end
        })
    }

    /// The sum over partitions of the log's end when the step began ([`crate::Staged::end_offset`]).
    #[must_use]
    pub fn end_offset(&self) -> u64 {
        self.end.iter().sum()
    }

    /// The sum over partitions of the offsets to read next.
    #[must_use]
    pub fn next_offset(&self) -> u64 {
        self.at.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offsets(pairs: &[(Partition, u64)]) -> BTreeMap<Partition, u64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn a_sole_member_reaches_the_bound_once_every_partition_is_read_to_its_end() {
        let mut bound = StagingBound::new(vec![10, 5], offsets(&[(0, 4), (1, 5)]));
        bound.read(&offsets(&[(0, 9)]));
        assert!(!bound.reached(None));
        bound.read(&offsets(&[(0, 10)]));
        assert!(bound.reached(None));
        assert_eq!((bound.next_offset(), bound.end_offset()), (15, 15));
        // Records appended after the step began are past the bound: reading them also counts.
        bound.read(&offsets(&[(0, 12)]));
        assert!(bound.reached(None));
    }

    #[test]
    fn a_member_of_a_group_looks_only_at_the_partitions_it_owns() {
        let mut bound = StagingBound::new(vec![10, 5, 7, 0], offsets(&[(0, 0), (1, 0), (2, 0), (3, 0)]));
        let owned: BTreeSet<Partition> = [1, 3].into_iter().collect();
        bound.read(&offsets(&[(1, 4)]));
        assert!(!bound.reached(Some(&owned)));
        bound.read(&offsets(&[(1, 5)]));
        assert!(bound.reached(Some(&owned)), "partitions 0 and 2 belong to another member");
        assert!(!bound.reached(None));
    }

    #[test]
    fn a_partition_never_read_counts_from_its_committed_offset() {
        let bound = StagingBound::new(vec![3, 8], offsets(&[(0, 3), (1, 8)]));
        assert!(bound.reached(None), "nothing past the committed offsets");
        assert!(!StagingBound::new(vec![3, 8], offsets(&[(0, 3)])).reached(None), "partition 1 has 8 records never committed");
    }

    #[test]
    fn a_member_waiting_for_its_group_owns_nothing_to_stage() {
        assert!(StagingBound::new(vec![10], BTreeMap::new()).reached(Some(&BTreeSet::new())));
    }
}
