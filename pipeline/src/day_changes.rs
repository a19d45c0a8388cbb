//! [`DayChanges`]: what a day received since its facts were last computed, so that a step
//! re-cuts only the visitors who received hits, from those visitors' hits of the day, and
//! leaves every other visitor's facts as they are.
//!
//! A visit is the hits of one visitor on one platform within one local day, so the facts of a
//! day are the union of the facts of its visitors: replacing one visitor's facts by those cut
//! from all of that visitor's hits gives the facts a whole recomputation gives. The store
//! stamps each day's facts with the positions of the staged hits they were computed from
//! ([`FactsStamp`]: the highest position per log partition) and with the sessionizer's
//! definition; the hits above those positions are the new ones, and their visitors the ones
//! to re-cut. Tagging counts have no visitor: they are hit counts, so the new hits' counts are
//! added to the day's.

use std::collections::BTreeMap;

use collector::log::{partition_of, Partition};
use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::UInt64Type;

use crate::error::PipelineError;

/// The highest staged position ([`collector::log::position`]) per log partition.
pub type Positions = BTreeMap<Partition, u64>;

/// Pseudonyms of visitors (16 bytes each). A step looks up every fact row of a day in it, so
/// it hashes with `foldhash` (hashbrown's default) rather than `SipHash`: pseudonyms are keyed
/// digests, which nobody outside can choose to collide.
pub type VisitorSet = datafusion::common::HashSet<[u8; 16]>;

/// Key of the Parquet metadata entry (or store column) holding a [`FactsStamp`].
pub const STAMP_KEY: &str = "dnma.facts_stamp";

/// What a day's facts were computed from: the staged positions they cover and the definition
/// of visits they were cut with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactsStamp {
    /// The highest position of each log partition whose hits the facts hold.
    pub through: Positions,
    /// How visits were cut ([`crate::sessionize::Sessionizer::definition`]).
    pub definition: String,
}

impl FactsStamp {
    /// The stamp as text: `definition;partition:position,partition:position`.
    pub fn encode(&self) -> String {
        let through: Vec<String> = self.through.iter().map(|(p, o)| format!("{p}:{o}")).collect();
        format!("{};{}", self.definition, through.join(","))
    }

    /// Reads a stamp written by [`FactsStamp::encode`]; `None` for anything else.
    pub fn decode(text: &str) -> Option<FactsStamp> {
        let (definition, through) = text.rsplit_once(';')?;
        let mut positions = Positions::new();
        for pair in through.split(',').filter(|p| !p.is_empty()) {
            let (partition, position) = pair.split_once(':')?;
            positions.insert(partition.parse().ok()?, position.parse().ok()?);
        }
        Some(FactsStamp { through: positions, definition: definition.to_owned() })
    }
}

/// Whether a staged position lies in `(after, through]` for its partition: above what the
/// facts hold (`after`; nothing held of a partition it lacks) and at most what was staged when
/// the computation began (`through`; a partition it lacks had nothing staged).
pub fn is_between(position: u64, after: &Positions, through: &Positions) -> bool {
    let partition = partition_of(position);
    after.get(&partition).is_none_or(|a| position > *a) && through.get(&partition).is_some_and(|t| position <= *t)
}

/// The rows of a batch of staged hits (positions in its first column) that `keep` selects by
/// position.
pub fn filter_positions(batch: &RecordBatch, keep: impl Fn(u64) -> bool) -> Result<RecordBatch, PipelineError> {
    let positions = batch.column(0).as_primitive::<UInt64Type>();
    if positions.values().iter().all(|p| keep(*p)) {
        return Ok(batch.clone());
    }
    let mask: BooleanArray = positions.values().iter().map(|p| Some(keep(*p))).collect();
    Ok(filter_record_batch(batch, &mask)?)
}

/// The pseudonyms in the binary `visitor` column of some batches.
pub fn visitors_of(batches: &[RecordBatch]) -> Result<VisitorSet, PipelineError> {
    let mut visitors = VisitorSet::new();
    for batch in batches {
        let column = batch
            .column_by_name("visitor")
            .and_then(|c| c.as_binary_opt::<i32>())
            .ok_or_else(|| PipelineError::Store("a batch has no binary visitor column".into()))?;
        for visitor in column.iter().flatten() {
            visitors.insert(pseudonym(visitor)?);
        }
    }
    Ok(visitors)
}

/// A pseudonym from its bytes.
pub fn pseudonym(bytes: &[u8]) -> Result<[u8; 16], PipelineError> {
    bytes.try_into().map_err(|_| PipelineError::Store(format!("a pseudonym of {} bytes (16 expected)", bytes.len())))
}

/// The rows of a batch (with a binary `visitor` column) whose visitor `keep` selects.
pub fn filter_visitors(batch: &RecordBatch, keep: impl Fn(&[u8]) -> bool) -> Result<RecordBatch, PipelineError> {
    let column = batch
        .column_by_name("visitor")
        .and_then(|c| c.as_binary_opt::<i32>())
        .ok_or_else(|| PipelineError::Store("a batch has no binary visitor column".into()))?;
    let mask: BooleanArray = column.iter().map(|v| Some(keep(v.unwrap_or_default()))).collect();
    Ok(filter_record_batch(batch, &mask)?)
}

/// What a day received since its facts were computed: enough to re-cut only its visitors.
#[derive(Debug, Clone)]
pub struct DayChanges {
    /// What the day's facts hold now.
    pub stamp: FactsStamp,
    /// The staged positions when the changes were read: the new facts cover every hit up to
    /// them (hits staged later are the next step's).
    pub through: Positions,
    /// The visitors with hits in `(stamp.through, through]`.
    pub visitors: VisitorSet,
    /// How many new hits there are.
    pub new_hits: u64,
    /// The new hits themselves (layout [`crate::facts::hits_schema`]): a step extends the
    /// visits of their visitors with them when the store gives those visits
    /// ([`crate::sessionize::extend`]).
    pub hits: Vec<RecordBatch>,
    /// The tagging counts of the new hits ([`crate::tagging::tagging_batch`]), added to the
    /// day's.
    pub tagging: RecordBatch,
}

impl DayChanges {
    /// Reads the changes from the new hits of a day (those in `(stamp.through, through]`).
    pub fn from_new_hits(stamp: FactsStamp, through: Positions, new_hits: Vec<RecordBatch>) -> Result<DayChanges, PipelineError> {
        Ok(DayChanges {
            visitors: visitors_of(&new_hits)?,
            new_hits: new_hits.iter().map(|b| b.num_rows() as u64).sum(),
            tagging: crate::tagging::tagging_batch(&new_hits)?,
            hits: new_hits,
            stamp,
            through,
        })
    }

    /// The stamp of the facts once these changes are applied.
    pub fn next_stamp(&self) -> FactsStamp {
        FactsStamp { through: self.through.clone(), definition: self.stamp.definition.clone() }
    }

    /// Whether re-cutting only the changed visitors is worth it for a day of `day_hits` staged
    /// hits: not when the new hits are a large share of the day (their visitors then hold most
    /// of it, and the kept facts would be rewritten for little).
    pub fn worth_it(&self, day_hits: u64) -> bool {
        self.new_hits > 0 && self.new_hits.saturating_mul(INCREMENTAL_SHARE) <= day_hits
    }
}

/// A day's computation as a store's writer follows it: the positions it covers, what changed
/// since the day's facts were computed, and whether only the changed visitors' facts are
/// replaced ([`crate::store::DayFactsWriter`]).
#[derive(Debug, Clone)]
pub struct DayStep {
    stamp: FactsStamp,
    changes: Option<DayChanges>,
    partial: bool,
}

impl DayStep {
    /// A computation covering `stamp`, with the day's `changes` when its facts allow a partial
    /// step.
    pub fn new(stamp: FactsStamp, changes: Option<DayChanges>) -> DayStep {
        DayStep { stamp, changes, partial: false }
    }

    /// The staged positions the computation covers.
    pub fn through(&self) -> &Positions {
        &self.stamp.through
    }

    /// What changed since the day's facts were computed, if known.
    pub fn changes(&self) -> Option<&DayChanges> {
        self.changes.as_ref()
    }

    /// Replaces only the changed visitors' facts from now on; an error when there are no
    /// changes to go by.
    pub fn keep_unchanged_visitors(&mut self, day: chrono::NaiveDate) -> Result<(), PipelineError> {
        if self.changes.is_none() {
            return Err(PipelineError::Store(format!("{day}: its facts cannot be updated visitor by visitor; compute it whole")));
        }
        self.partial = true;
        Ok(())
    }

    /// Readies appended facts: in a partial step the hits sessionized include old ones, so their
    /// tagging counts are dropped (the new hits' counts are added at commit).
    pub fn prepare(&self, facts: &mut crate::sessionize::Sessionized) {
        if self.partial {
            facts.tagging = RecordBatch::new_empty(crate::tagging::tagging_schema());
        }
    }

    /// What the commit applies: the changes of a partial step (`None`: the whole day is
    /// replaced), and the stamp of the facts once committed.
    pub fn commit(&mut self) -> (Option<DayChanges>, FactsStamp) {
        let changes = if self.partial { self.changes.take() } else { None };
        let stamp = changes.as_ref().map_or_else(|| self.stamp.clone(), DayChanges::next_stamp);
        (changes, stamp)
    }
}

/// A day whose new hits are at most one in this many of its hits is computed for its changed
/// visitors only.
const INCREMENTAL_SHARE: u64 = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use collector::log::position;

    #[test]
    fn a_stamp_reads_back_what_it_wrote() {
        let stamp = FactsStamp { through: [(0, position(0, 41)), (3, position(3, 7))].into(), definition: "visit_timeout_ms=1800000".into() };
        assert_eq!(FactsStamp::decode(&stamp.encode()), Some(stamp));
        let empty = FactsStamp { through: Positions::new(), definition: "d".into() };
        assert_eq!(FactsStamp::decode(&empty.encode()), Some(empty));
        assert_eq!(FactsStamp::decode("no separator"), None);
        assert_eq!(FactsStamp::decode("d;1:x"), None);
    }

    #[test]
    fn new_positions_lie_above_the_facts_and_at_most_what_was_staged() {
        let after: Positions = [(0, position(0, 10))].into();
        let through: Positions = [(0, position(0, 20)), (1, position(1, 5))].into();
        assert!(!is_between(position(0, 10), &after, &through));
        assert!(is_between(position(0, 11), &after, &through));
        assert!(is_between(position(0, 20), &after, &through));
        assert!(!is_between(position(0, 21), &after, &through));
        assert!(is_between(position(1, 0), &after, &through), "a partition the facts lack is all new");
        assert!(!is_between(position(2, 0), &after, &through), "nothing was staged of partition 2");
    }

    #[test]
    fn a_few_new_hits_are_worth_an_incremental_step_and_many_are_not() {
        let changes = |new_hits| DayChanges {
            stamp: FactsStamp { through: Positions::new(), definition: String::new() },
            through: Positions::new(),
            visitors: VisitorSet::new(),
            new_hits,
            hits: Vec::new(),
            tagging: RecordBatch::new_empty(crate::tagging::tagging_schema()),
        };
        assert!(changes(10).worth_it(1_000));
        assert!(changes(250).worth_it(1_000));
        assert!(!changes(251).worth_it(1_000));
        assert!(!changes(0).worth_it(1_000), "a day marked dirty without new hits is computed whole");
    }
}
