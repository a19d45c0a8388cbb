//! The Arrow layouts of the three fact tables and their conversions:
//! - **hits**: one row per accepted hit ([`hits_schema`], built from [`HitRow`]s);
//! - **visits**: one row per visit, with the attributes of its first hit ([`visits_schema`]);
//! - **usages**: one row per visit and service (or third-party tool) it used ([`usages_schema`]).
//!
//! Visits and usages keep the pseudonymous visitor so that unique visitors stay exact for any
//! period and territory; the period columns (`week`, `month`, `school_year`) are derived from
//! `day` by [`with_periods`].

use std::sync::{Arc, LazyLock};

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Array, Date32Builder, Int64Builder, RecordBatch, StringBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

use crate::hit_row::HitRow;
use crate::model::Period;

/// The attribute columns a visit takes from its first hit, after `day`, in order.
pub const VISIT_ATTRIBUTES: [&str; 15] = [
    "visitor",
    "plateforme",
    "projet",
    "exploitant",
    "uai",
    "circonscription",
    "departement",
    "academie",
    "region",
    "degre",
    "secteur",
    "profil",
    "device",
    "os",
    "browser",
];

/// Whether a visit attribute may be NULL: a school without a circonscription, a school unknown
/// to the referential (or facts written before its kind and sector were kept) for `degre` and
/// `secteur`.
pub fn nullable_attribute(name: &str) -> bool {
    matches!(name, "circonscription" | "degre" | "secteur")
}

fn attribute_fields() -> Vec<Field> {
    VISIT_ATTRIBUTES
        .iter()
        .map(|&name| match name {
            "visitor" => Field::new(name, DataType::Binary, false),
            _ => Field::new(name, DataType::Utf8, nullable_attribute(name)),
        })
        .collect()
}

fn date(name: &str) -> Field {
    Field::new(name, DataType::Date32, false)
}

fn int(name: &str) -> Field {
    Field::new(name, DataType::Int64, false)
}

/// An integer column added to a layout after facts were first written: NULL in the rows of
/// older files and tables, always set in the rows written since.
fn added_int(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}

/// The visits' column holding the time of a visit's last hit (milliseconds), so that later hits
/// can extend the visit without its earlier hits being read again
/// ([`crate::sessionize::extend`]). Added after the first layouts: NULL in older facts.
pub const LAST_MS: &str = "last_ms";

/// The usages' column holding the start of their visit (`start_ms` of the visit), which ties
/// each usage to its visit. Added after the first layouts: NULL in older facts.
pub const START_MS: &str = "start_ms";

/// Layout of the staged hits.
pub fn hits_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields = vec![Field::new("offset", DataType::UInt64, false), int("time_ms"), date("day")];
        fields.extend(attribute_fields().into_iter().filter(|f| !matches!(f.name().as_str(), "device" | "os" | "browser")));
        fields.extend([
            Field::new("service", DataType::Utf8, false),
            Field::new("outil", DataType::Utf8, true),
            Field::new("page_view", DataType::Boolean, false),
            Field::new("click", DataType::Boolean, false),
            Field::new("device", DataType::Utf8, false),
            Field::new("os", DataType::Utf8, false),
            Field::new("browser", DataType::Utf8, false),
            Field::new("plan_version", DataType::Utf8, false),
        ]);
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// Layout of the visits as the sessionizers produce them (before [`with_periods`]).
pub fn core_visits_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields = vec![date("day")];
        fields.extend(attribute_fields());
        fields.extend([int("start_ms"), int("duration_s"), int("hits"), int("page_views"), int("clicks"), added_int(LAST_MS)]);
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// Layout of the usages as the sessionizers produce them (before [`with_periods`]).
pub fn core_usages_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields = vec![date("day")];
        fields.extend(attribute_fields());
        fields.extend([
            Field::new("dim", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, false),
            int("duration_s"),
            int("page_views"),
            int("clicks"),
            added_int(START_MS),
        ]);
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

fn with_period_fields(core: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = vec![core.field(0).clone()];
    fields.extend(Period::ALL[1..].iter().map(|p| date(p.column())));
    fields.extend(core.fields().iter().skip(1).map(|f| f.as_ref().clone()));
    Arc::new(Schema::new(fields))
}

/// Layout of the stored visits.
pub fn visits_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| with_period_fields(&core_visits_schema()));
    SCHEMA.clone()
}

/// Layout of the stored usages.
pub fn usages_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| with_period_fields(&core_usages_schema()));
    SCHEMA.clone()
}

/// Days since the epoch, as Arrow's `Date32` counts them.
pub fn date32(day: NaiveDate) -> i32 {
    i32::try_from((day - NaiveDate::default()).num_days()).expect("dates within ±5 million years")
}

/// The day of a `Date32` value.
pub fn from_date32(days: i32) -> NaiveDate {
    NaiveDate::default() + chrono::TimeDelta::days(i64::from(days))
}

/// Adds the `week`, `month` and `school_year` columns (start of the period of each row's `day`)
/// to a core visits or usages batch.
pub fn with_periods(core: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let days = core.column(0).as_any().downcast_ref::<Date32Array>().ok_or_else(|| ArrowError::SchemaError("`day` is not Date32".into()))?;
    let mut columns: Vec<ArrayRef> = vec![core.column(0).clone()];
    for period in &Period::ALL[1..] {
        let starts: Date32Array = days.unary(|d| date32(period.start_of(from_date32(d))));
        columns.push(Arc::new(starts));
    }
    columns.extend(core.columns().iter().skip(1).cloned());
    RecordBatch::try_new(with_period_fields(&core.schema()), columns)
}

/// A batch read from a file written before some columns were added to its layout, in the
/// current layout: the school's kind and sector (`degre`, `secteur`, after `region`) in hits,
/// visits and usages; a visit's last hit ([`LAST_MS`], last) in visits; a usage's visit start
/// ([`START_MS`], last) in usages. The columns added are NULL. Any other batch is returned as
/// it is.
pub fn with_school_columns(batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    let null_column = |data_type: &DataType| datafusion::arrow::array::new_null_array(data_type, batch.num_rows());
    if let (Ok(region), Err(_)) = (schema.index_of("region"), schema.index_of("degre")) {
        for (i, name) in ["degre", "secteur"].into_iter().enumerate() {
            fields.insert(region + 1 + i, Field::new(name, DataType::Utf8, true));
            columns.insert(region + 1 + i, null_column(&DataType::Utf8));
        }
    }
    let is_visits = schema.index_of("hits").is_ok() && schema.index_of("duration_s").is_ok();
    let is_usages = schema.index_of("dim").is_ok() && schema.index_of("duration_s").is_ok();
    for (layout, name) in [(is_visits, LAST_MS), (is_usages, START_MS)] {
        if layout && schema.index_of(name).is_err() {
            fields.push(added_int(name));
            columns.push(null_column(&DataType::Int64));
        }
    }
    if columns.len() == batch.num_columns() {
        return Ok(batch);
    }
    RecordBatch::try_new(Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())), columns)
}

/// Fact rows (in a stored layout, or several batches of it) in the layout `schema`, its columns
/// taken by name: the stored visits or usages in their core layout, for example.
pub fn in_layout(batches: &[RecordBatch], schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let mut projected = Vec::with_capacity(batches.len());
    for batch in batches {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                batch.column_by_name(f.name()).cloned().ok_or_else(|| ArrowError::SchemaError(format!("fact rows without column `{}`", f.name())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        projected.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    datafusion::arrow::compute::concat_batches(schema, &projected)
}

/// The staged-hits batch of some rows.
pub fn hits_batch(rows: &[HitRow]) -> RecordBatch {
    let n = rows.len();
    let strings = || StringBuilder::with_capacity(n, n * 8);
    let mut offset = UInt64Builder::with_capacity(n);
    let mut time = Int64Builder::with_capacity(n);
    let mut day = Date32Builder::with_capacity(n);
    let mut visitor = BinaryBuilder::with_capacity(n, n * 16);
    let [mut plateforme, mut projet, mut exploitant, mut uai, mut circonscription, mut departement, mut academie, mut region, mut degre, mut secteur, mut profil] =
        std::array::from_fn(|_| strings());
    let [mut service, mut outil, mut device, mut os, mut browser, mut plan_version] = std::array::from_fn(|_| strings());
    let mut page_view = BooleanBuilder::with_capacity(n);
    let mut click = BooleanBuilder::with_capacity(n);
    for row in rows {
        offset.append_value(row.offset);
        time.append_value(row.time_ms);
        day.append_value(date32(row.day));
        visitor.append_value(row.visitor);
        plateforme.append_value(&row.plateforme);
        projet.append_value(&row.projet);
        exploitant.append_value(&row.exploitant);
        uai.append_value(&row.uai);
        circonscription.append_option(row.place.circonscription.as_deref());
        departement.append_value(&row.place.departement);
        academie.append_value(&row.place.academie);
        region.append_value(&row.place.region);
        degre.append_option(row.place.degre);
        secteur.append_option(row.place.secteur);
        profil.append_value(&row.profil);
        service.append_value(&row.service);
        outil.append_option(row.outil.as_deref());
        page_view.append_value(row.page_view);
        click.append_value(row.click);
        device.append_value(&row.device);
        os.append_value(&row.os);
        browser.append_value(&row.browser);
        plan_version.append_value(&row.plan_version);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(offset.finish()),
        Arc::new(time.finish()),
        Arc::new(day.finish()),
        Arc::new(visitor.finish()),
        Arc::new(plateforme.finish()),
        Arc::new(projet.finish()),
        Arc::new(exploitant.finish()),
        Arc::new(uai.finish()),
        Arc::new(circonscription.finish()),
        Arc::new(departement.finish()),
        Arc::new(academie.finish()),
        Arc::new(region.finish()),
        Arc::new(degre.finish()),
        Arc::new(secteur.finish()),
        Arc::new(profil.finish()),
        Arc::new(service.finish()),
        Arc::new(outil.finish()),
        Arc::new(page_view.finish()),
        Arc::new(click.finish()),
        Arc::new(device.finish()),
        Arc::new(os.finish()),
        Arc::new(browser.finish()),
        Arc::new(plan_version.finish()),
    ];
    RecordBatch::try_new(hits_schema(), columns).expect("columns built in schema order")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_share_the_attribute_columns_in_one_order() {
        let visits = visits_schema();
        let usages = usages_schema();
        for (i, name) in ["day", "week", "month", "school_year"].iter().chain(VISIT_ATTRIBUTES.iter()).enumerate() {
            assert_eq!(visits.field(i).name(), name);
            assert_eq!(usages.field(i).name(), name);
        }
        for name in VISIT_ATTRIBUTES {
            assert_eq!(hits_schema().field_with_name(name).unwrap().data_type(), visits.field_with_name(name).unwrap().data_type());
        }
    }

    #[test]
    fn batches_written_before_columns_were_added_read_in_the_current_layout() {
        for schema in [visits_schema(), usages_schema()] {
            let current = RecordBatch::new_empty(schema.clone());
            let added = |name: &str| matches!(name, "degre" | "secteur" | LAST_MS) || (name == START_MS && schema.index_of("dim").is_ok());
            let keep: Vec<usize> = (0..schema.fields().len()).filter(|&i| !added(schema.field(i).name())).collect();
            let old = current.project(&keep).unwrap();
            assert_eq!(with_school_columns(old).unwrap().schema(), schema);
            assert_eq!(with_school_columns(current.clone()).unwrap(), current, "a current batch is unchanged");
        }
        let hits = hits_batch(&[]);
        let keep: Vec<usize> = (0..hits.num_columns()).filter(|&i| !matches!(hits.schema().field(i).name().as_str(), "degre" | "secteur")).collect();
        assert_eq!(with_school_columns(hits.project(&keep).unwrap()).unwrap().schema(), hits_schema());
    }

    #[test]
    fn date32_round_trips() {
        for s in ["1970-01-01", "2026-11-23", "1969-12-31", "2100-02-28"] {
            let d: NaiveDate = s.parse().unwrap();
            assert_eq!(from_date32(date32(d)), d);
        }
        assert_eq!(date32("1970-01-02".parse().unwrap()), 1);
    }
}
