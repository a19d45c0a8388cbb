//! Extending visits with new hits from the visits themselves, without their earlier hits: what a
//! step does for the visitors who received hits, so that its cost follows the new hits and the
//! facts of their visitors, not all the hits those visitors sent that day.
//!
//! A visit is a chain of hits whose gaps are at most the timeout ([`super`]). The new hits are
//! first cut into visits of their own; then, per (day, platform, visitor), the old and the new
//! visits are taken as intervals `[start_ms, last_ms]` in order of start, and an interval joins
//! the one before when it starts at most the timeout after the latest end seen so far. This is
//! the cut of all the hits together: the hits of one interval are chained already, no hit lies
//! between an end and the next start, and an interval starting before that end lies among hits
//! whose gaps are at most the timeout. A joined visit starts at its first interval, takes the
//! attributes of the earliest first hit (an old visit's when an old and a new one start at the
//! same millisecond: its first hit was staged before), ends at the latest end, and sums the
//! counts; its usages sum by (dimension, value) and take its duration. Usages are tied to their
//! visit by the visit's start ([`crate::facts::START_MS`]), visits know their last hit
//! ([`crate::facts::LAST_MS`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, Int64Array, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::datatypes::{Date32Type, Int64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::common::HashMap;

use super::{sort_scan, CoreFacts};
use crate::facts::{core_usages_schema, core_visits_schema, LAST_MS, START_MS, VISIT_ATTRIBUTES};

/// A visit of the day's facts as the merge sees it.
#[derive(Clone, Copy)]
struct Interval {
    start_ms: i64,
    last_ms: i64,
    hits: i64,
    page_views: i64,
    clicks: i64,
}

/// A usage of a joined visit, summed.
struct Usage<'a> {
    dim: &'a str,
    value: &'a str,
    page_views: i64,
    clicks: i64,
}

/// The facts of `old` (some visitors' visits and usages of a day, in the core layouts, with
/// their last hits and visit starts) extended with `new_hits` (staged after them): the facts a
/// sessionization of all their hits gives. `None` when an old visit lacks its last hit or an
/// old usage its visit's start (facts written before those columns: cut those from the hits).
pub fn extend(old: &CoreFacts, new_hits: &[RecordBatch], timeout_ms: i64) -> Result<Option<CoreFacts>, ArrowError> {
    let lacks = |batch: &RecordBatch, name: &str| batch.column_by_name(name).is_none_or(|c| c.null_count() > 0);
    if lacks(&old.visits, LAST_MS) || lacks(&old.usages, START_MS) {
        return Ok(None);
    }
    let fresh = sort_scan::sessionize(new_hits, timeout_ms)?;
    let visits = concat_batches(&core_visits_schema(), [&old.visits, &fresh.visits])?;
    let usages = concat_batches(&core_usages_schema(), [&old.usages, &fresh.usages])?;
    let old_visits = old.visits.num_rows();
    let old_usages = old.usages.num_rows();

    let int = |batch: &RecordBatch, name: &str| -> Result<Int64Array, ArrowError> {
        let column = batch.column_by_name(name).ok_or_else(|| ArrowError::SchemaError(format!("no column `{name}`")))?;
        if column.null_count() > 0 {
            return Err(ArrowError::InvalidArgumentError(format!("column `{name}` holds nulls")));
        }
        Ok(column.as_primitive::<Int64Type>().clone())
    };
    let string = |batch: &RecordBatch, name: &str| -> Result<StringArray, ArrowError> {
        Ok(batch.column_by_name(name).ok_or_else(|| ArrowError::SchemaError(format!("no column `{name}`")))?.as_string::<i32>().clone())
    };
    let (start, last, hits, page_views, clicks) =
        (int(&visits, "start_ms")?, int(&visits, LAST_MS)?, int(&visits, "hits")?, int(&visits, "page_views")?, int(&visits, "clicks")?);
    let day = visits.column_by_name("day").ok_or_else(|| ArrowError::SchemaError("no column `day`".into()))?.as_primitive::<Date32Type>().clone();
    let plateforme = string(&visits, "plateforme")?;
    let visitor: BinaryArray =
        visits.column_by_name("visitor").ok_or_else(|| ArrowError::SchemaError("no column `visitor`".into()))?.as_binary::<i32>().clone();

    // One integer per (day, platform, visitor); visits in order of (key, start, old before new).
    let mut keys: HashMap<(i32, &str, &[u8]), u32> = HashMap::default();
    let mut key_of = Vec::with_capacity(visits.num_rows());
    for row in 0..visits.num_rows() {
        let next = u32::try_from(keys.len()).expect("fewer than 2^32 visitors in one step");
        key_of.push(*keys.entry((day.value(row), plateforme.value(row), visitor.value(row))).or_insert(next));
    }
    let mut order: Vec<(u32, i64, bool, usize)> = (0..visits.num_rows()).map(|row| (key_of[row], start.value(row), row >= old_visits, row)).collect();
    order.sort_unstable();

    // Joined visits: the row of their first visit and their interval; each visit's group.
    let mut firsts: Vec<u32> = Vec::new();
    let mut joined: Vec<Interval> = Vec::new();
    let mut group_of = vec![0usize; visits.num_rows()];
    let mut open_key = u32::MAX;
    for &(key, start_ms, _, row) in &order {
        let interval =
            Interval { start_ms, last_ms: last.value(row), hits: hits.value(row), page_views: page_views.value(row), clicks: clicks.value(row) };
        match joined.last_mut() {
            Some(current) if key == open_key && start_ms - current.last_ms <= timeout_ms => {
                current.last_ms = current.last_ms.max(interval.last_ms);
                current.hits += interval.hits;
                current.page_views += interval.page_views;
                current.clicks += interval.clicks;
            }
            _ => {
                joined.push(interval);
                firsts.push(u32::try_from(row).expect("fewer than 2^32 visits in one step"));
            }
        }
        open_key = key;
        group_of[row] = joined.len() - 1;
    }

    // Each usage goes to its visit's group: visits found by (key, start), old and new apart.
    let visit_by_start: [HashMap<(u32, i64), usize>; 2] =
        [0..old_visits, old_visits..visits.num_rows()].map(|rows| rows.map(|row| ((key_of[row], start.value(row)), row)).collect());
    let usage_start = int(&usages, START_MS)?;
    let (usage_day, usage_plateforme) = (usages.column(0).as_primitive::<Date32Type>().clone(), string(&usages, "plateforme")?);
    let usage_visitor: BinaryArray =
        usages.column_by_name("visitor").ok_or_else(|| ArrowError::SchemaError("no column `visitor`".into()))?.as_binary::<i32>().clone();
    let (dim, value) = (string(&usages, "dim")?, string(&usages, "value")?);
    let (usage_page_views, usage_clicks) = (int(&usages, "page_views")?, int(&usages, "clicks")?);
    let mut group_usages: Vec<Vec<Usage<'_>>> = (0..joined.len()).map(|_| Vec::new()).collect();
    for row in 0..usages.num_rows() {
        let key = keys.get(&(usage_day.value(row), usage_plateforme.value(row), usage_visitor.value(row)));
        let visit = key.and_then(|key| visit_by_start[usize::from(row >= old_usages)].get(&(*key, usage_start.value(row))));
        let Some(&visit) = visit else {
            return Err(ArrowError::InvalidArgumentError(format!("a usage starting at {} has no visit", usage_start.value(row))));
        };
        let summed = &mut group_usages[group_of[visit]];
        let (d, v) = (dim.value(row), value.value(row));
        match summed.iter_mut().find(|u| u.dim == d && u.value == v) {
            Some(usage) => {
                usage.page_views += usage_page_views.value(row);
                usage.clicks += usage_clicks.value(row);
            }
            None => summed.push(Usage { dim: d, value: v, page_views: usage_page_views.value(row), clicks: usage_clicks.value(row) }),
        }
    }
    build(&visits, &firsts, &joined, &group_usages).map(Some)
}

fn int_array(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(values.into_iter().collect::<Int64Array>())
}

/// The joined visits and their usages in the core layouts, attributes taken from each group's
/// first visit.
fn build(visits: &RecordBatch, firsts: &[u32], joined: &[Interval], group_usages: &[Vec<Usage<'_>>]) -> Result<CoreFacts, ArrowError> {
    let schema = visits.schema();
    let gather = |indices: &UInt32Array| -> Result<Vec<ArrayRef>, ArrowError> {
        std::iter::once("day").chain(VISIT_ATTRIBUTES).map(|name| take(visits.column(schema.index_of(name)?), indices, None)).collect()
    };
    let duration = |v: &Interval| (v.last_ms - v.start_ms) / 1000;

    let mut visit_columns = gather(&UInt32Array::from(firsts.to_vec()))?;
    visit_columns.extend([
        int_array(joined.iter().map(|v| v.start_ms)),
        int_array(joined.iter().map(duration)),
        int_array(joined.iter().map(|v| v.hits)),
        int_array(joined.iter().map(|v| v.page_views)),
        int_array(joined.iter().map(|v| v.clicks)),
        int_array(joined.iter().map(|v| v.last_ms)),
    ]);
    let out_visits = RecordBatch::try_new(core_visits_schema(), visit_columns)?;

    let usage_group: Vec<usize> = group_usages.iter().enumerate().flat_map(|(g, usages)| std::iter::repeat_n(g, usages.len())).collect();
    let all_usages = || group_usages.iter().flatten();
    let mut usage_columns = gather(&usage_group.iter().map(|&g| firsts[g]).collect::<UInt32Array>())?;
    usage_columns.extend([
        Arc::new(all_usages().map(|u| Some(u.dim)).collect::<StringArray>()) as ArrayRef,
        Arc::new(all_usages().map(|u| Some(u.value)).collect::<StringArray>()),
        int_array(usage_group.iter().map(|&g| duration(&joined[g]))),
        int_array(all_usages().map(|u| u.page_views)),
        int_array(all_usages().map(|u| u.clicks)),
        int_array(usage_group.iter().map(|&g| joined[g].start_ms)),
    ]);
    let out_usages = RecordBatch::try_new(core_usages_schema(), usage_columns)?;
    Ok(CoreFacts { visits: out_visits, usages: out_usages })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::hits_batch;
    use crate::hit_row::{HitRow, Place};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use proptest::prelude::*;

    /// A hit of a visitor at a time (ms) on a service; its device follows its offset, so that
    /// a visit's attributes show which hit came first.
    fn hit(offset: u64, visitor: &str, time_ms: i64, service: &str) -> HitRow {
        let place = Place {
            circonscription: None,
            departement: "035".into(),
            academie: "RENNES".into(),
            region: "BRETAGNE".into(),
            degre: Some("college"),
            secteur: Some("public"),
            tz: chrono_tz::Europe::Paris,
        };
        let mut pseudonym = [0u8; 16];
        pseudonym[..visitor.len()].copy_from_slice(visitor.as_bytes());
        HitRow {
            offset,
            time_ms: 1_788_000_000_000 + time_ms,
            day: "2026-09-08".parse().unwrap(),
            visitor: pseudonym,
            plateforme: "ONE".into(),
            projet: "P".into(),
            exploitant: "E".into(),
            uai: "0350001A".into(),
            place: std::sync::Arc::new(place),
            profil: "ELEVE".into(),
            service: service.into(),
            outil: (service == "MESSAGERIE").then(|| "OUTIL".to_owned()),
            page_view: !offset.is_multiple_of(3),
            click: offset.is_multiple_of(3),
            device: ["desktop", "mobile"][usize::from(offset % 2 == 1)].into(),
            os: "linux".into(),
            browser: "firefox".into(),
            plan_version: "1".into(),
        }
    }

    /// The rows of some batches as sorted lines (facts are sets: their order does not count).
    fn rows(batches: &[RecordBatch]) -> Vec<String> {
        let text = pretty_format_batches(batches).unwrap().to_string();
        let mut lines: Vec<String> = text.lines().filter(|l| l.starts_with('|')).skip(1).map(str::to_owned).collect();
        lines.sort();
        lines
    }

    fn same_facts(a: &CoreFacts, b: &CoreFacts) {
        assert_eq!(rows(std::slice::from_ref(&a.visits)), rows(std::slice::from_ref(&b.visits)), "visits");
        assert_eq!(rows(std::slice::from_ref(&a.usages)), rows(std::slice::from_ref(&b.usages)), "usages");
    }

    const TIMEOUT_MS: i64 = 30 * 60 * 1000;

    #[test]
    fn a_hit_between_two_visits_joins_them_and_a_far_one_opens_its_own() {
        let minute = 60_000;
        let old: Vec<_> = [0, 10 * minute, 60 * minute, 65 * minute].iter().enumerate().map(|(i, t)| hit(i as u64, "v1", *t, "MAIL")).collect();
        let new: Vec<_> =
            [(4, 35 * minute, "CAHIER"), (5, 200 * minute, "MAIL"), (6, 5 * minute, "MAIL")].iter().map(|(o, t, s)| hit(*o, "v1", *t, s)).collect();
        let before = sort_scan::sessionize(&[hits_batch(&old)], TIMEOUT_MS).unwrap();
        assert_eq!(before.visits.num_rows(), 2);
        let extended = extend(&before, &[hits_batch(&new)], TIMEOUT_MS).unwrap().unwrap();
        let all: Vec<_> = old.into_iter().chain(new).collect();
        same_facts(&extended, &sort_scan::sessionize(&[hits_batch(&all)], TIMEOUT_MS).unwrap());
        assert_eq!(extended.visits.num_rows(), 2, "0 to 65 min joined by the hit at 35, and the one at 200");
    }

    #[test]
    fn facts_without_their_last_hits_are_not_extended() {
        let old = sort_scan::sessionize(&[hits_batch(&[hit(0, "v1", 0, "MAIL")])], TIMEOUT_MS).unwrap();
        let column = old.visits.schema().index_of(LAST_MS).unwrap();
        let mut columns = old.visits.columns().to_vec();
        columns[column] = datafusion::arrow::array::new_null_array(&datafusion::arrow::datatypes::DataType::Int64, 1);
        let stale = CoreFacts { visits: RecordBatch::try_new(old.visits.schema(), columns).unwrap(), usages: old.usages.clone() };
        assert!(extend(&stale, &[hits_batch(&[hit(1, "v1", 1_000, "MAIL")])], TIMEOUT_MS).unwrap().is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Any split of the hits into steps (staged in offset order, times in any order) gives
        /// by extension the facts one sessionization of all of them gives.
        #[test]
        fn extending_step_by_step_gives_the_facts_of_all_the_hits(
            hits in prop::collection::vec((0usize..3, 0i64..240, 0usize..3), 1..60),
            cuts in prop::collection::vec(0usize..60, 0..4),
        ) {
            let services = ["MAIL", "CAHIER", "MESSAGERIE"];
            // Minutes on a coarse grid, so that gaps of exactly the timeout and ties occur.
            let all: Vec<_> = hits
                .iter()
                .enumerate()
                .map(|(i, (v, minute, s))| hit(i as u64, ["v1", "v2", "v3"][*v], minute * 5 * 60_000 / 4, services[*s]))
                .collect();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % all.len()).chain([0, all.len()]).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let mut facts = sort_scan::sessionize(&[hits_batch(&all[..cuts[1]])], TIMEOUT_MS).unwrap();
            for step in cuts.windows(2).skip(1) {
                facts = extend(&facts, &[hits_batch(&all[step[0]..step[1]])], TIMEOUT_MS).unwrap().unwrap();
            }
            same_facts(&facts, &sort_scan::sessionize(&[hits_batch(&all)], TIMEOUT_MS).unwrap());
        }
    }
}
