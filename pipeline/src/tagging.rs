//! Tagging facts, what the ENT editors' conformance view reads:
//! - **tagging**: per local day, accepted hits counted by platform, project, service, third-party
//!   tool and plan version ([`tagging_batch`], recomputed with the visits of the day);
//! - **rejects**: one row per reason of each refused event of the dead-letter log, with the
//!   event's (already pseudonymized) properties ([`rejects_batch`]), staged per day of receipt
//!   in Europe/Paris; and one *recovery row* per letter that a replay turned into a hit
//!   ([`Recovery`]), staged on the day of the replay's `Done` mark, so that the view can say how
//!   many refusals were recovered while still counting them as refused when received.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, NaiveDate};
use chrono_tz::Europe::Paris;
use collector::record::{DeadLetter, ReplayMark, ReplayStage};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Date32Builder, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder,
    UInt64Array, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use serde::Serialize;

use crate::facts::{date32, hits_schema};

/// Layout of the per-day tagging counts.
pub fn tagging_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("day", DataType::Date32, false),
            Field::new("plateforme", DataType::Utf8, false),
            Field::new("projet", DataType::Utf8, false),
            Field::new("service", DataType::Utf8, false),
            Field::new("outil", DataType::Utf8, true),
            Field::new("plan_version", DataType::Utf8, false),
            Field::new("hits", DataType::Int64, false),
            Field::new("page_views", DataType::Int64, false),
            Field::new("clicks", DataType::Int64, false),
        ]))
    });
    SCHEMA.clone()
}

/// Layout of the staged refusals (one row per reason).
pub fn rejects_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("offset", DataType::UInt64, false),
            Field::new("received_ms", DataType::Int64, false),
            Field::new("day", DataType::Date32, false),
            Field::new("plateforme", DataType::Utf8, true),
            Field::new("site", DataType::Utf8, true),
            Field::new("event", DataType::Utf8, false),
            Field::new("code", DataType::Utf8, false),
            Field::new("field", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
            Field::new("properties", DataType::Utf8, false),
        ]))
    });
    SCHEMA.clone()
}

/// The tagging counts of some staged hits (layout [`crate::facts::hits_schema`]).
pub fn tagging_batch(hits: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    type Key<'a> = (i32, &'a str, &'a str, &'a str, Option<&'a str>, &'a str);
    let schema = hits_schema();
    let mut counts: BTreeMap<Key<'_>, (i64, i64, i64)> = BTreeMap::new();
    for batch in hits {
        let column = |name: &str| batch.column(schema.index_of(name).expect("hits column"));
        let string = |name: &str| -> &StringArray { column(name).as_string() };
        let boolean = |name: &str| -> &BooleanArray { column(name).as_boolean() };
        let day = column("day").as_primitive::<Date32Type>();
        let (plateforme, projet, service, outil, version) =
            (string("plateforme"), string("projet"), string("service"), string("outil"), string("plan_version"));
        let (page_view, click) = (boolean("page_view"), boolean("click"));
        for row in 0..batch.num_rows() {
            let key = (
                day.value(row),
                plateforme.value(row),
                projet.value(row),
                service.value(row),
                outil.is_valid(row).then(|| outil.value(row)),
                version.value(row),
            );
            let entry = counts.entry(key).or_default();
            entry.0 += 1;
            entry.1 += i64::from(page_view.value(row));
            entry.2 += i64::from(click.value(row));
        }
    }
    let n = counts.len();
    let mut day = Date32Builder::with_capacity(n);
    let [mut plateforme, mut projet, mut service, mut outil, mut version] = std::array::from_fn(|_| StringBuilder::with_capacity(n, n * 8));
    let [mut hits, mut page_views, mut clicks] = std::array::from_fn(|_| Int64Builder::with_capacity(n));
    for ((d, p, j, s, o, v), (h, pv, c)) in counts {
        day.append_value(d);
        plateforme.append_value(p);
        projet.append_value(j);
        service.append_value(s);
        outil.append_option(o);
        version.append_value(v);
        hits.append_value(h);
        page_views.append_value(pv);
        clicks.append_value(c);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(day.finish()),
        Arc::new(plateforme.finish()),
        Arc::new(projet.finish()),
        Arc::new(service.finish()),
        Arc::new(outil.finish()),
        Arc::new(version.finish()),
        Arc::new(hits.finish()),
        Arc::new(page_views.finish()),
        Arc::new(clicks.finish()),
    ];
    RecordBatch::try_new(tagging_schema(), columns)
}

/// The day (Europe/Paris) a refusal was received.
pub fn reject_day(received_ms: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(received_ms).unwrap_or_default().with_timezone(&Paris).date_naive()
}

/// The rows of some dead letters, each with its dead-letter log offset.
pub fn rejects_batch(letters: &[(u64, DeadLetter)]) -> RecordBatch {
    let n: usize = letters.iter().map(|(_, l)| l.reasons.len().max(1)).sum();
    let mut offset = UInt64Builder::with_capacity(n);
    let mut received = Int64Builder::with_capacity(n);
    let mut day = Date32Builder::with_capacity(n);
    let [mut plateforme, mut site, mut event, mut code, mut field, mut value, mut properties] =
        std::array::from_fn(|_| StringBuilder::with_capacity(n, n * 8));
    for (o, letter) in letters {
        let props = serde_json::to_string(&letter.properties.iter().cloned().collect::<BTreeMap<_, _>>()).unwrap_or_default();
        let unexplained = [collector::record::StoredReason {
            code: "unknown".into(),
            field: String::new(),
            value: None,
            message: "refused without a reason".into(),
        }];
        let reasons = if letter.reasons.is_empty() { &unexplained[..] } else { &letter.reasons[..] };
        for reason in reasons {
            offset.append_value(*o);
            received.append_value(letter.received_ms);
            day.append_value(date32(reject_day(letter.received_ms)));
            plateforme.append_option(letter.plateforme.as_deref());
            site.append_option(letter.site.as_deref());
            event.append_value(&letter.event);
            code.append_value(&reason.code);
            field.append_value(&reason.field);
            value.append_option(reason.value.as_deref());
            properties.append_value(&props);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(offset.finish()),
        Arc::new(received.finish()),
        Arc::new(day.finish()),
        Arc::new(plateforme.finish()),
        Arc::new(site.finish()),
        Arc::new(event.finish()),
        Arc::new(code.finish()),
        Arc::new(field.finish()),
        Arc::new(value.finish()),
        Arc::new(properties.finish()),
    ];
    RecordBatch::try_new(rejects_schema(), columns).expect("columns built in schema order")
}

/// The reason code of recovery rows in the refusals (never one of the plan's reason codes,
/// which name what is wrong with a hit). Readers of refusals leave these rows out.
pub const RECOVERED_CODE: &str = "recovered_by_replay";

/// What a replay's `Done` mark in the dead-letter topic says: these letters are hits now.
///
/// Staged as refusal rows of their own, one per recovered letter, in the layout of
/// [`rejects_schema`]: at the mark's position (so staging them again skips them, as any
/// refusal) and on the day the mark was written, with code [`RECOVERED_CODE`] and, as field,
/// the recovered letter's position in decimal (so that each row has its own key: ClickHouse
/// keeps one row per day, position, code and field). They carry nothing of a person: no
/// platform, no properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The mark's position in the dead-letter topic.
    pub position: u64,
    /// When the mark was written, ms since the epoch.
    pub written_ms: i64,
    /// Positions of the letters whose hits were appended.
    pub letters: Vec<u64>,
}

impl Recovery {
    /// What the mark at `position` says was recovered: `None` for a `Begun` mark (its hits
    /// may not be durable) and for a `Done` mark that recovered nothing.
    pub fn of(position: u64, mark: &ReplayMark) -> Option<Self> {
        match &mark.stage {
            ReplayStage::Done { positions } if !positions.is_empty() => {
                Some(Recovery { position, written_ms: mark.written_ms, letters: positions.clone() })
            }
            _ => None,
        }
    }

    /// The day its rows are staged on (the mark's, in Europe/Paris like the letters').
    pub fn day(&self) -> NaiveDate {
        reject_day(self.written_ms)
    }
}

/// The refusal rows of some letters (as [`rejects_batch`]) and of some recoveries, in one batch.
pub fn dead_letter_batch(letters: &[(u64, DeadLetter)], recoveries: &[Recovery]) -> RecordBatch {
    let letters = rejects_batch(letters);
    if recoveries.is_empty() {
        return letters;
    }
    let rows: Vec<(&Recovery, u64)> = recoveries.iter().flat_map(|r| r.letters.iter().map(move |letter| (r, *letter))).collect();
    let n = rows.len();
    let text = |value: &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(std::iter::repeat_n(value, n))) };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(rows.iter().map(|(r, _)| r.position))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|(r, _)| r.written_ms))),
        Arc::new(Date32Array::from_iter_values(rows.iter().map(|(r, _)| date32(r.day())))),
        Arc::new(StringArray::new_null(n)),
        Arc::new(StringArray::new_null(n)),
        text(""),
        text(RECOVERED_CODE),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, letter)| letter.to_string()))),
        Arc::new(StringArray::new_null(n)),
        text("{}"),
    ];
    let recovered = RecordBatch::try_new(rejects_schema(), columns).expect("columns built in schema order");
    datafusion::arrow::compute::concat_batches(&rejects_schema(), [&letters, &recovered]).expect("batches of one layout")
}

/// Accepted hits of one day, platform, project, service, tool and plan version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct TaggingRow {
    /// Local day.
    pub day: NaiveDate,
    /// Platform.
    pub plateforme: String,
    /// Project.
    pub projet: String,
    /// Service.
    pub service: String,
    /// Third-party tool.
    pub outil: Option<String>,
    /// Plan version that accepted the hits.
    pub plan_version: String,
    /// Hits.
    pub hits: u64,
    /// Page views.
    pub page_views: u64,
    /// Clicks.
    pub clicks: u64,
}

/// Refused events of one day and platform for one reason (code, field, value).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RejectCount {
    /// Day of receipt (Europe/Paris).
    pub day: NaiveDate,
    /// Platform, when it could be read.
    pub plateforme: Option<String>,
    /// Stable reason code.
    pub code: String,
    /// Field.
    pub field: String,
    /// Value refused (shortened by the collector; never a user id).
    pub value: Option<String>,
    /// Refused events.
    pub events: u64,
    /// Of those, the events a replay has recovered since (their hits counted on their day).
    pub recovered: u64,
}

/// Refused events of one day and platform, whatever their reasons.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RefusedDay {
    /// Day of receipt (Europe/Paris).
    pub day: NaiveDate,
    /// Platform, when it could be read.
    pub plateforme: Option<String>,
    /// Refused events.
    pub events: u64,
    /// Of those, the events a replay has recovered since.
    pub recovered: u64,
}

/// One refused event, as an editor sees it to fix a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectSample {
    /// Receive time, ms since the epoch.
    pub received_ms: i64,
    /// Site id.
    pub site: Option<String>,
    /// Platform.
    pub plateforme: Option<String>,
    /// Event name.
    pub event: String,
    /// Reasons: code, field, value.
    pub reasons: Vec<(String, String, Option<String>)>,
    /// Its properties as JSON (user ids pseudonymized at the collector).
    pub properties: String,
}

/// Reads [`TaggingRow`]s out of query batches (columns in [`tagging_schema`] order, `day` first).
pub(crate) fn tagging_rows(batches: &[RecordBatch]) -> Vec<TaggingRow> {
    let mut rows = Vec::new();
    for batch in batches {
        let day = batch.column(0).as_primitive::<Date32Type>();
        let text = |i: usize| batch.column(i).as_string::<i32>();
        let number = |i: usize| batch.column(i).as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        for row in 0..batch.num_rows() {
            let outil = text(4);
            rows.push(TaggingRow {
                day: crate::facts::from_date32(day.value(row)),
                plateforme: text(1).value(row).to_owned(),
                projet: text(2).value(row).to_owned(),
                service: text(3).value(row).to_owned(),
                outil: outil.is_valid(row).then(|| outil.value(row).to_owned()),
                plan_version: text(5).value(row).to_owned(),
                hits: u64::try_from(number(6).value(row)).unwrap_or(0),
                page_views: u64::try_from(number(7).value(row)).unwrap_or(0),
                clicks: u64::try_from(number(8).value(row)).unwrap_or(0),
            });
        }
    }
    rows.sort();
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::record::StoredReason;
    use tagging_plan::WireFormat;

    fn letter(received_ms: i64, reasons: &[(&str, &str)]) -> DeadLetter {
        DeadLetter {
            received_ms,
            format: WireFormat::Piano,
            site: Some("1".into()),
            plateforme: Some("P".into()),
            event: "page.display".into(),
            reasons: reasons
                .iter()
                .map(|(code, field)| StoredReason { code: (*code).into(), field: (*field).into(), value: Some("x".into()), message: String::new() })
                .collect(),
            properties: vec![("user_id".into(), "pseudonym".into())],
        }
    }

    #[test]
    fn one_reject_row_per_reason_on_the_paris_day() {
        // 2026-11-22T23:30Z is already the 23rd in Paris.
        let batch = rejects_batch(&[(4, letter(1_795_419_000_000, &[("a", "uai"), ("b", "service")])), (5, letter(1_795_419_000_000, &[]))]);
        assert_eq!(batch.num_rows(), 3);
        assert_eq!(reject_day(1_795_419_000_000), "2026-11-23".parse::<NaiveDate>().unwrap());
        let codes = batch.column(6).as_string::<i32>();
        assert_eq!((codes.value(0), codes.value(1), codes.value(2)), ("a", "b", "unknown"));
    }

    #[test]
    fn only_a_done_mark_recovers_and_each_letter_gets_its_own_row() {
        use collector::record::{ReplayMark, ReplayStage};
        let begun = ReplayMark::new(1_795_419_000_000, "b", ReplayStage::Begun { positions: vec![4, 5], hits_end: vec![0] });
        assert_eq!(Recovery::of(9, &begun), None, "a begun batch may not have its hits yet");
        assert_eq!(Recovery::of(9, &ReplayMark::new(1_795_419_000_000, "b", ReplayStage::Done { positions: vec![] })), None);
        let done = Recovery::of(9, &ReplayMark::new(1_795_419_000_000, "b", ReplayStage::Done { positions: vec![4, 5] })).unwrap();
        assert_eq!(done.day(), "2026-11-23".parse::<NaiveDate>().unwrap(), "the mark's day in Paris");

        let batch = dead_letter_batch(&[(6, letter(1_795_419_000_000, &[("a", "uai")]))], &[done]);
        assert_eq!(batch.num_rows(), 3);
        let offsets = batch.column(0).as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
        let (codes, fields, platforms) = (batch.column(6).as_string::<i32>(), batch.column(7).as_string::<i32>(), batch.column(3).as_string::<i32>());
        let rows: Vec<_> = (0..3).map(|i| (offsets.value(i), codes.value(i), fields.value(i), platforms.is_valid(i))).collect();
        assert_eq!(rows, [(6, "a", "uai", true), (9, RECOVERED_CODE, "4", false), (9, RECOVERED_CODE, "5", false)]);
        assert_eq!(dead_letter_batch(&[], &[]).num_rows(), 0);
    }
}
