//! [`DayPart`]: the unit of computation, a day's visitors of one log partition or all of them.
//!
//! The hit log is keyed by pseudonymous visitor, so every hit of a visitor lies in one log
//! partition, and visits never span two visitors: the visitors of one partition can be cut into
//! visits apart from the others. A store that divides its facts by partition (ClickHouse, where
//! the pipelines of a consumer group share the partitions) keeps each (day, partition) apart,
//! and each pipeline computes the parts of the partitions it owns; the embedded store, written
//! by one process, computes whole days.

use chrono::NaiveDate;
use collector::log::{partition_of, Partition};

/// A day's visitors of one log partition (`partition: Some`), or all of them (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayPart {
    /// The local day.
    pub day: NaiveDate,
    /// The log partition whose visitors it holds; `None`: every visitor of the day.
    pub partition: Option<Partition>,
}

impl DayPart {
    /// Every visitor of a day.
    pub fn whole(day: NaiveDate) -> Self {
        DayPart { day, partition: None }
    }

    /// The visitors of a day whose hits lie in one log partition.
    pub fn of_partition(day: NaiveDate, partition: Partition) -> Self {
        DayPart { day, partition: Some(partition) }
    }

    /// Whether a staged hit at `position` ([`collector::log::position`]) belongs to this part.
    pub fn holds_position(self, position: u64) -> bool {
        self.partition.is_none_or(|p| partition_of(position) == p)
    }

    /// Whether a pipeline owning `owned` partitions (`None`: every one) computes this part.
    pub fn owned_by(self, owned: Option<&std::collections::BTreeSet<Partition>>) -> bool {
        match (self.partition, owned) {
            (Some(partition), Some(owned)) => owned.contains(&partition),
            _ => true,
        }
    }
}

impl From<NaiveDate> for DayPart {
    fn from(day: NaiveDate) -> Self {
        DayPart::whole(day)
    }
}

impl std::fmt::Display for DayPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.partition {
            Some(partition) => write!(f, "{} (log partition {partition})", self.day),
            None => write!(f, "{}", self.day),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::log::position;

    #[test]
    fn a_part_holds_the_positions_of_its_partition_and_is_computed_by_its_owner() {
        let day: NaiveDate = "2026-03-02".parse().unwrap();
        let part = DayPart::of_partition(day, 3);
        assert!(part.holds_position(position(3, 17)));
        assert!(!part.holds_position(position(2, 17)));
        assert!(DayPart::whole(day).holds_position(position(2, 17)));
        let owned = std::collections::BTreeSet::from([1, 3]);
        assert!(part.owned_by(Some(&owned)));
        assert!(!DayPart::of_partition(day, 2).owned_by(Some(&owned)));
        assert!(DayPart::of_partition(day, 2).owned_by(None), "a pipeline outside any group owns every partition");
        assert!(DayPart::whole(day).owned_by(Some(&owned)));
        assert_eq!(part.to_string(), "2026-03-02 (log partition 3)");
    }
}
