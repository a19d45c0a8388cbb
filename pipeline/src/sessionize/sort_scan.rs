//! Sessionization as one sort and one linear scan: each (day, platform, visitor) gets a small
//! integer key (a hash map over borrowed values), hits are sorted by (key, time, offset) as plain
//! fixed-width tuples, then cut into visits wherever the key changes or the gap exceeds the
//! timeout; the attributes of each visit are gathered from its first hit with Arrow's `take`.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int64Array, Int64Builder, RecordBatch, StringArray, StringBuilder, UInt32Array,
};
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::datatypes::{Date32Type, Int64Type, UInt64Type};
use datafusion::arrow::error::ArrowError;
use datafusion::common::HashMap;

use super::CoreFacts;
use crate::facts::{core_usages_schema, core_visits_schema, hits_schema, VISIT_ATTRIBUTES};

/// What one usage row accumulates while its visit is open.
struct Usage<'a> {
    dim: &'static str,
    value: &'a str,
    page_views: i64,
    clicks: i64,
}

/// The visit being scanned.
struct OpenVisit<'a> {
    first: u32,
    start_ms: i64,
    last_ms: i64,
    hits: i64,
    page_views: i64,
    clicks: i64,
    usages: Vec<Usage<'a>>,
}

impl<'a> OpenVisit<'a> {
    fn add_usage(&mut self, dim: &'static str, value: &'a str, page_view: bool, click: bool) {
        let i = self.usages.iter().position(|u| u.dim == dim && u.value == value).unwrap_or_else(|| {
            self.usages.push(Usage { dim, value, page_views: 0, clicks: 0 });
            self.usages.len() - 1
        });
        let usage = &mut self.usages[i];
        usage.page_views += i64::from(page_view);
        usage.clicks += i64::from(click);
    }
}

/// Output columns under construction.
#[derive(Default)]
struct Out<'a> {
    visit_first: Vec<u32>,
    start_ms: Vec<i64>,
    last_ms: Vec<i64>,
    duration_s: Vec<i64>,
    hits: Vec<i64>,
    page_views: Vec<i64>,
    clicks: Vec<i64>,
    usage_first: Vec<u32>,
    usage_dim: Vec<&'static str>,
    usage_value: Vec<&'a str>,
    usage_start_ms: Vec<i64>,
    usage_duration_s: Vec<i64>,
    usage_page_views: Vec<i64>,
    usage_clicks: Vec<i64>,
}

impl<'a> Out<'a> {
    fn close(&mut self, visit: OpenVisit<'a>) {
        let duration_s = (visit.last_ms - visit.start_ms) / 1000;
        self.visit_first.push(visit.first);
        self.start_ms.push(visit.start_ms);
        self.last_ms.push(visit.last_ms);
        self.duration_s.push(duration_s);
        self.hits.push(visit.hits);
        self.page_views.push(visit.page_views);
        self.clicks.push(visit.clicks);
        for usage in visit.usages {
            self.usage_first.push(visit.first);
            self.usage_dim.push(usage.dim);
            self.usage_value.push(usage.value);
            self.usage_start_ms.push(visit.start_ms);
            self.usage_duration_s.push(duration_s);
            self.usage_page_views.push(usage.page_views);
            self.usage_clicks.push(usage.clicks);
        }
    }
}

/// Cuts hits into visits (see [`super`] for the rules).
pub fn sessionize(hits: &[RecordBatch], timeout_ms: i64) -> Result<CoreFacts, ArrowError> {
    let schema = hits_schema();
    let all = concat_batches(&schema, hits)?;
    let column = |name: &str| all.column(schema.index_of(name).expect("hits column")).clone();
    let day = column("day");
    let day = day.as_primitive::<Date32Type>();
    let plateforme = column("plateforme");
    let plateforme: &StringArray = plateforme.as_string();
    let visitor = column("visitor");
    let visitor: &BinaryArray = visitor.as_binary();
    let time = column("time_ms");
    let time = time.as_primitive::<Int64Type>();
    let offset = column("offset");
    let offset = offset.as_primitive::<UInt64Type>();
    let service = column("service");
    let service: &StringArray = service.as_string();
    let outil = column("outil");
    let outil: &StringArray = outil.as_string();
    let page_view = column("page_view");
    let page_view: &BooleanArray = page_view.as_boolean();
    let click = column("click");
    let click: &BooleanArray = click.as_boolean();

    // One integer per (day, platform, visitor), then one sort of fixed-width tuples.
    let mut keys: HashMap<(i32, &str, &[u8]), u32> = HashMap::default();
    let mut order: Vec<(u32, i64, u64, u32)> = (0..all.num_rows())
        .map(|row| {
            let next = u32::try_from(keys.len()).expect("fewer than 2^32 visitors in one batch");
            let key = *keys.entry((day.value(row), plateforme.value(row), visitor.value(row))).or_insert(next);
            (key, time.value(row), offset.value(row), u32::try_from(row).expect("fewer than 2^32 hits in one batch"))
        })
        .collect();
    drop(keys);
    order.sort_unstable();

    let mut out = Out::default();
    let mut open: Option<OpenVisit<'_>> = None;
    let mut open_key = u32::MAX;
    for &(key, t, _, i) in &order {
        let row = i as usize;
        let continues = key == open_key && open.as_ref().is_some_and(|v| t - v.last_ms <= timeout_ms);
        open_key = key;
        if !continues {
            if let Some(done) = open.take() {
                out.close(done);
            }
            open = Some(OpenVisit { first: i, start_ms: t, last_ms: t, hits: 0, page_views: 0, clicks: 0, usages: Vec::new() });
        }
        let visit = open.as_mut().expect("a visit is open");
        let (pv, cl) = (page_view.value(row), click.value(row));
        visit.last_ms = t;
        visit.hits += 1;
        visit.page_views += i64::from(pv);
        visit.clicks += i64::from(cl);
        visit.add_usage("service", service.value(row), pv, cl);
        if outil.is_valid(row) {
            visit.add_usage("outil", outil.value(row), pv, cl);
        }
    }
    if let Some(done) = open.take() {
        out.close(done);
    }
    build(&all, out)
}

fn int_array(values: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

fn build(all: &RecordBatch, out: Out) -> Result<CoreFacts, ArrowError> {
    let schema = hits_schema();
    let gather = |indices: &UInt32Array| -> Result<Vec<ArrayRef>, ArrowError> {
        std::iter::once("day")
            .chain(VISIT_ATTRIBUTES)
            .map(|name| take(all.column(schema.index_of(name).expect("hits column")), indices, None))
            .collect()
    };

    let mut visit_columns = gather(&UInt32Array::from(out.visit_first))?;
    visit_columns.extend([
        int_array(out.start_ms),
        int_array(out.duration_s),
        int_array(out.hits),
        int_array(out.page_views),
        int_array(out.clicks),
        int_array(out.last_ms),
    ]);
    let visits = RecordBatch::try_new(core_visits_schema(), visit_columns)?;

    let mut usage_columns = gather(&UInt32Array::from(out.usage_first))?;
    let mut dim = StringBuilder::with_capacity(out.usage_dim.len(), out.usage_dim.len() * 7);
    out.usage_dim.iter().for_each(|d| dim.append_value(d));
    let value: StringArray = out.usage_value.into_iter().map(Some).collect();
    let mut duration = Int64Builder::with_capacity(out.usage_duration_s.len());
    duration.append_slice(&out.usage_duration_s);
    usage_columns.extend([
        Arc::new(dim.finish()) as ArrayRef,
        Arc::new(value),
        Arc::new(duration.finish()),
        int_array(out.usage_page_views),
        int_array(out.usage_clicks),
        int_array(out.usage_start_ms),
    ]);
    let usages = RecordBatch::try_new(core_usages_schema(), usage_columns)?;
    Ok(CoreFacts { visits, usages })
}
