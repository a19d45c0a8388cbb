//! The ClickHouse store's typed rows for the Arrow layouts of its fact tables and answers: one
//! `#[derive(clickhouse::Row)]` struct per layout, sent and read as `RowBinary` by the
//! `clickhouse` crate, and the conversions between Arrow record batches and those rows. A row
//! borrows its text from the batch it is written from or from the answer it is read from.
//!
//! Pseudonymous visitors (Arrow `Binary`) are stored as lower-case hex `String`s (the store's
//! SQL reads a visitor's slice from its first two hex digits), booleans as `UInt8`, days as
//! `Date` (days since 1970 as a `u16`, what `RowBinary` carries). [`column_type`] gives the
//! ClickHouse type of an Arrow field for the tables' `CREATE TABLE` statements.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, BinaryArray, BinaryBuilder, BooleanArray, BooleanBuilder, Date32Array, Date32Builder, Int64Array, Int64Builder,
    RecordBatch, StringArray, StringBuilder, UInt64Array, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::PipelineError;

/// The ClickHouse type of a column holding an Arrow field.
pub fn column_type(field: &Field) -> Result<String, PipelineError> {
    let base = match field.data_type() {
        DataType::UInt64 => "UInt64",
        DataType::Int64 => "Int64",
        DataType::Date32 => "Date",
        DataType::Utf8 | DataType::Binary => "String",
        DataType::Boolean => "UInt8",
        other => return Err(PipelineError::Store(format!("no ClickHouse type for column {} ({other})", field.name()))),
    };
    Ok(if field.is_nullable() { format!("Nullable({base})") } else { base.to_owned() })
}

/// How a column travels: its Arrow array and builder, its ClickHouse type, and the value a row
/// holds.
pub(super) trait Kind {
    /// The Arrow array of the column.
    type Array: Array + 'static;
    /// The builder of the column read back.
    type Builder: Default + ArrayBuilder;
    /// The value a row holds (borrowed from the array or the answer where it can be).
    type Value<'a>;
    /// The Arrow type of the column.
    const DATA_TYPE: DataType;
    /// Whether the column holds nulls.
    const NULLABLE: bool = false;
    /// The ClickHouse type of the column.
    const CLICKHOUSE: &'static str;
    /// The value at `row`.
    fn value(array: &Self::Array, row: usize) -> Result<Self::Value<'_>, PipelineError>;
    /// Appends a value read from ClickHouse.
    fn push(builder: &mut Self::Builder, value: Self::Value<'_>) -> Result<(), PipelineError>;
    /// The column built.
    fn finish(mut builder: Self::Builder) -> ArrayRef {
        ArrayBuilder::finish(&mut builder)
    }
}

/// `UInt64`.
pub(super) struct UInt64;
/// `Int64`.
pub(super) struct Int64;
/// A day: Arrow `Date32`, ClickHouse `Date`.
pub(super) struct Date;
/// Text: `Utf8`, `String`.
pub(super) struct Text;
/// Text or null: `Utf8` (nullable), `Nullable(String)`.
pub(super) struct NullableText;
/// An integer or null: `Int64` (nullable), `Nullable(Int64)`.
pub(super) struct NullableInt64;
/// Bytes (pseudonyms): `Binary`, a `String` of lower-case hex.
pub(super) struct Hex;
/// A flag: `Boolean`, `UInt8`.
pub(super) struct Flag;

/// A kind whose Arrow and ClickHouse values are the same plain value.
macro_rules! plain_kind {
    ($kind:ident, $array:ty, $builder:ty, $value:ty, $data_type:expr, $clickhouse:literal) => {
        impl Kind for $kind {
            type Array = $array;
            type Builder = $builder;
            type Value<'a> = $value;
            const DATA_TYPE: DataType = $data_type;
            const CLICKHOUSE: &'static str = $clickhouse;
            fn value(array: &$array, row: usize) -> Result<$value, PipelineError> {
                Ok(array.value(row))
            }
            fn push(builder: &mut $builder, value: $value) -> Result<(), PipelineError> {
                builder.append_value(value);
                Ok(())
            }
        }
    };
}

plain_kind!(UInt64, UInt64Array, UInt64Builder, u64, DataType::UInt64, "UInt64");

plain_kind!(Int64, Int64Array, Int64Builder, i64, DataType::Int64, "Int64");

impl Kind for Date {
    type Array = Date32Array;
    type Builder = Date32Builder;
    type Value<'a> = u16;
    const DATA_TYPE: DataType = DataType::Date32;
    const CLICKHOUSE: &'static str = "Date";
    fn value(array: &Date32Array, row: usize) -> Result<u16, PipelineError> {
        let days = array.value(row);
        u16::try_from(days)
            .map_err(|_| PipelineError::Store(format!("day {} is outside ClickHouse's Date range (1970 to 2149)", crate::facts::from_date32(days))))
    }
    fn push(builder: &mut Date32Builder, value: u16) -> Result<(), PipelineError> {
        builder.append_value(i32::from(value));
        Ok(())
    }
}

impl Kind for Text {
    type Array = StringArray;
    type Builder = StringBuilder;
    type Value<'a> = &'a str;
    const DATA_TYPE: DataType = DataType::Utf8;
    const CLICKHOUSE: &'static str = "String";
    fn value(array: &StringArray, row: usize) -> Result<&str, PipelineError> {
        Ok(array.value(row))
    }
    fn push(builder: &mut StringBuilder, value: &str) -> Result<(), PipelineError> {
        builder.append_value(value);
        Ok(())
    }
}

impl Kind for NullableText {
    type Array = StringArray;
    type Builder = StringBuilder;
    type Value<'a> = Option<&'a str>;
    const DATA_TYPE: DataType = DataType::Utf8;
    const NULLABLE: bool = true;
    const CLICKHOUSE: &'static str = "Nullable(String)";
    fn value(array: &StringArray, row: usize) -> Result<Option<&str>, PipelineError> {
        Ok(array.is_valid(row).then(|| array.value(row)))
    }
    fn push(builder: &mut StringBuilder, value: Option<&str>) -> Result<(), PipelineError> {
        builder.append_option(value);
        Ok(())
    }
}

impl Kind for NullableInt64 {
    type Array = Int64Array;
    type Builder = Int64Builder;
    type Value<'a> = Option<i64>;
    const DATA_TYPE: DataType = DataType::Int64;
    const NULLABLE: bool = true;
    const CLICKHOUSE: &'static str = "Nullable(Int64)";
    fn value(array: &Int64Array, row: usize) -> Result<Option<i64>, PipelineError> {
        Ok(array.is_valid(row).then(|| array.value(row)))
    }
    fn push(builder: &mut Int64Builder, value: Option<i64>) -> Result<(), PipelineError> {
        builder.append_option(value);
        Ok(())
    }
}

impl Kind for Hex {
    type Array = BinaryArray;
    type Builder = BinaryBuilder;
    type Value<'a> = Cow<'a, str>;
    const DATA_TYPE: DataType = DataType::Binary;
    const CLICKHOUSE: &'static str = "String";
    fn value(array: &BinaryArray, row: usize) -> Result<Cow<'_, str>, PipelineError> {
        Ok(Cow::Owned(hex::encode(array.value(row))))
    }
    fn push(builder: &mut BinaryBuilder, value: Cow<'_, str>) -> Result<(), PipelineError> {
        let bytes =
            hex::decode(value.as_bytes()).map_err(|e| PipelineError::Store(format!("ClickHouse sent a visitor {value:?} that is not hex: {e}")))?;
        builder.append_value(bytes);
        Ok(())
    }
}

plain_kind!(Flag, BooleanArray, BooleanBuilder, bool, DataType::Boolean, "UInt8");

/// The column `name` of a batch as the array of kind `K`.
fn column<'a, K: Kind>(batch: &'a RecordBatch, name: &str) -> Result<&'a K::Array, PipelineError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<K::Array>())
        .ok_or_else(|| PipelineError::Store(format!("the batch for ClickHouse has no {:?} column `{name}`", K::DATA_TYPE)))
}

/// Declares, for each Arrow layout, a borrowed row struct `Name<'a>` (`#[derive(Row, Serialize,
/// Deserialize)]`, fields in the layout's order, each `field: RustType as Kind`, then extra
/// columns given when writing, such as a generation) and a `NameColumns` builder reading rows
/// back into a batch. `Name::rows(batch, extra…)` walks a batch as rows; `Name::schema()` is
/// the layout; `Name::select_from(sql)` casts an answer to the row's exact types.
macro_rules! batch_rows {
    ($(
        $(#[$meta:meta])*
        $name:ident / $columns:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty as $kind:ident ),* $(,)?
        } $( + { $( $extra:ident : $extra_ty:ty ),* } )?
    )*) => {$(
        $(#[$meta])*
        #[derive(Debug, PartialEq, ::clickhouse::Row, ::serde::Serialize, ::serde::Deserialize)]
        #[clickhouse(crate = "::clickhouse")]
        pub(super) struct $name<'a> {
            $( $(#[$field_meta])* pub(super) $field: $ty, )*
            $($( pub(super) $extra: $extra_ty, )*)?
        }

        impl<'a> $name<'a> {
            /// The Arrow layout of the row's columns (without the extra columns).
            #[allow(dead_code)]
            pub(super) fn schema() -> SchemaRef {
                Arc::new(Schema::new(vec![$( Field::new(stringify!($field), <$kind as Kind>::DATA_TYPE, <$kind as Kind>::NULLABLE), )*]))
            }

            /// The rows of a batch of [`Self::schema`]'s layout (columns found by name), with
            /// the extra columns given.
            #[allow(dead_code)]
            pub(super) fn rows(
                batch: &'a RecordBatch
                $($(, $extra: $extra_ty)*)?
            ) -> Result<impl Iterator<Item = Result<Self, PipelineError>> + Send + 'a, PipelineError> {
                $( let $field = column::<$kind>(batch, stringify!($field))?; )*
                Ok((0..batch.num_rows()).map(move |row| {
                    Ok(Self { $( $field: <$kind as Kind>::value($field, row)?, )* $($( $extra, )*)? })
                }))
            }

            /// `SELECT`s the row's columns from the answer of `sql`, each cast to the row's
            /// ClickHouse type, whatever types the server inferred (the answer's order is not
            /// kept).
            #[allow(dead_code)]
            pub(super) fn select_from(sql: &str) -> String {
                let columns: Vec<String> = vec![$(
                    format!("CAST(answer.`{0}` AS {1}) AS `{0}`", stringify!($field), <$kind as Kind>::CLICKHOUSE),
                )*];
                format!("SELECT {} FROM ({sql}) AS answer", columns.join(", "))
            }
        }

        #[doc = concat!("Columns of [`", stringify!($name), "`]s read back, built into a batch.")]
        #[derive(Default)]
        #[allow(dead_code)]
        pub(super) struct $columns {
            $( $field: <$kind as Kind>::Builder, )*
        }

        impl $columns {
            /// Appends a row.
            #[allow(dead_code)]
            pub(super) fn push(&mut self, row: $name<'_>) -> Result<(), PipelineError> {
                $( <$kind as Kind>::push(&mut self.$field, row.$field)?; )*
                Ok(())
            }

            /// The batch of the rows pushed (layout [`$name::schema`]).
            #[allow(dead_code)]
            pub(super) fn finish(self) -> Result<RecordBatch, PipelineError> {
                Ok(RecordBatch::try_new($name::schema(), vec![$( <$kind as Kind>::finish(self.$field), )*])?)
            }
        }
    )*};
}

batch_rows! {
    /// A staged hit: table `hits`, layout [`crate::facts::hits_schema`].
    HitRow / HitColumns {
        offset: u64 as UInt64,
        time_ms: i64 as Int64,
        day: u16 as Date,
        #[serde(borrow)]
        visitor: Cow<'a, str> as Hex,
        plateforme: &'a str as Text,
        projet: &'a str as Text,
        exploitant: &'a str as Text,
        uai: &'a str as Text,
        #[serde(borrow)]
        circonscription: Option<&'a str> as NullableText,
        departement: &'a str as Text,
        academie: &'a str as Text,
        region: &'a str as Text,
        #[serde(borrow)]
        degre: Option<&'a str> as NullableText,
        #[serde(borrow)]
        secteur: Option<&'a str> as NullableText,
        profil: &'a str as Text,
        service: &'a str as Text,
        #[serde(borrow)]
        outil: Option<&'a str> as NullableText,
        page_view: bool as Flag,
        click: bool as Flag,
        device: &'a str as Text,
        os: &'a str as Text,
        browser: &'a str as Text,
        plan_version: &'a str as Text,
    }

    /// A visit: table `visits`, layout [`crate::facts::visits_schema`] and its generation.
    VisitRow / VisitColumns {
        day: u16 as Date,
        week: u16 as Date,
        month: u16 as Date,
        school_year: u16 as Date,
        #[serde(borrow)]
        visitor: Cow<'a, str> as Hex,
        plateforme: &'a str as Text,
        projet: &'a str as Text,
        exploitant: &'a str as Text,
        uai: &'a str as Text,
        #[serde(borrow)]
        circonscription: Option<&'a str> as NullableText,
        departement: &'a str as Text,
        academie: &'a str as Text,
        region: &'a str as Text,
        #[serde(borrow)]
        degre: Option<&'a str> as NullableText,
        #[serde(borrow)]
        secteur: Option<&'a str> as NullableText,
        profil: &'a str as Text,
        device: &'a str as Text,
        os: &'a str as Text,
        browser: &'a str as Text,
        start_ms: i64 as Int64,
        duration_s: i64 as Int64,
        hits: i64 as Int64,
        page_views: i64 as Int64,
        clicks: i64 as Int64,
        last_ms: Option<i64> as NullableInt64,
    } + { generation: u64 }

    /// A usage: table `usages`, layout [`crate::facts::usages_schema`] and its generation.
    UsageRow / UsageColumns {
        day: u16 as Date,
        week: u16 as Date,
        month: u16 as Date,
        school_year: u16 as Date,
        #[serde(borrow)]
        visitor: Cow<'a, str> as Hex,
        plateforme: &'a str as Text,
        projet: &'a str as Text,
        exploitant: &'a str as Text,
        uai: &'a str as Text,
        #[serde(borrow)]
        circonscription: Option<&'a str> as NullableText,
        departement: &'a str as Text,
        academie: &'a str as Text,
        region: &'a str as Text,
        #[serde(borrow)]
        degre: Option<&'a str> as NullableText,
        #[serde(borrow)]
        secteur: Option<&'a str> as NullableText,
        profil: &'a str as Text,
        device: &'a str as Text,
        os: &'a str as Text,
        browser: &'a str as Text,
        dim: &'a str as Text,
        value: &'a str as Text,
        duration_s: i64 as Int64,
        page_views: i64 as Int64,
        clicks: i64 as Int64,
        start_ms: Option<i64> as NullableInt64,
    } + { generation: u64 }

    /// Tagging counts: table `tagging`, layout [`crate::tagging::tagging_schema`] and their
    /// generation.
    TaggingFactRow / TaggingFactColumns {
        day: u16 as Date,
        plateforme: &'a str as Text,
        projet: &'a str as Text,
        service: &'a str as Text,
        #[serde(borrow)]
        outil: Option<&'a str> as NullableText,
        plan_version: &'a str as Text,
        hits: i64 as Int64,
        page_views: i64 as Int64,
        clicks: i64 as Int64,
    } + { generation: u64 }

    /// Tagging counts summed ([`crate::store::sql::tagging`]), layout
    /// [`crate::tagging::tagging_schema`].
    TaggingAnswer / TaggingAnswerColumns {
        day: u16 as Date,
        plateforme: &'a str as Text,
        projet: &'a str as Text,
        service: &'a str as Text,
        #[serde(borrow)]
        outil: Option<&'a str> as NullableText,
        plan_version: &'a str as Text,
        hits: i64 as Int64,
        page_views: i64 as Int64,
        clicks: i64 as Int64,
    }

    /// A refusal: table `rejects`, layout [`crate::tagging::rejects_schema`].
    RejectRow / RejectColumns {
        offset: u64 as UInt64,
        received_ms: i64 as Int64,
        day: u16 as Date,
        #[serde(borrow)]
        plateforme: Option<&'a str> as NullableText,
        #[serde(borrow)]
        site: Option<&'a str> as NullableText,
        event: &'a str as Text,
        code: &'a str as Text,
        field: &'a str as Text,
        #[serde(borrow)]
        value: Option<&'a str> as NullableText,
        properties: &'a str as Text,
    }

    /// A refusal of a sample ([`crate::store::sql::reject_sample`]), columns
    /// [`crate::store::sql::REJECT_SAMPLE_COLUMNS`]: the table's types, in the answer's order.
    RejectSampleRow / RejectSampleColumns {
        offset: u64 as UInt64,
        day: u16 as Date,
        received_ms: i64 as Int64,
        #[serde(borrow)]
        site: Option<&'a str> as NullableText,
        #[serde(borrow)]
        plateforme: Option<&'a str> as NullableText,
        event: &'a str as Text,
        code: &'a str as Text,
        field: &'a str as Text,
        #[serde(borrow)]
        value: Option<&'a str> as NullableText,
        properties: &'a str as Text,
    }

    /// Refused events per reason, and how many were recovered ([`crate::store::sql::reject_counts`]).
    RejectCountAnswer / RejectCountColumns {
        day: u16 as Date,
        #[serde(borrow)]
        plateforme: Option<&'a str> as NullableText,
        code: &'a str as Text,
        field: &'a str as Text,
        #[serde(borrow)]
        value: Option<&'a str> as NullableText,
        events: i64 as Int64,
        recovered: i64 as Int64,
    }

    /// Refused events per day and platform, and how many were recovered
    /// ([`crate::store::sql::rejected_events`]).
    RejectedEventsAnswer / RejectedEventsColumns {
        day: u16 as Date,
        #[serde(borrow)]
        plateforme: Option<&'a str> as NullableText,
        events: i64 as Int64,
        recovered: i64 as Int64,
    }

    /// A cell of an indicator query ([`crate::query::indicator_sql`]).
    IndicatorAnswer / IndicatorColumns {
        code: &'a str as Text,
        start: u16 as Date,
        #[serde(borrow)]
        cell_value: Option<&'a str> as NullableText,
        visits: i64 as Int64,
        visitors: i64 as Int64,
        page_views: i64 as Int64,
        clicks: i64 as Int64,
        duration_s: i64 as Int64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{hits_schema, usages_schema, visits_schema};
    use crate::store::sql::REJECT_SAMPLE_COLUMNS;
    use crate::tagging::{rejects_schema, tagging_schema};

    #[test]
    fn row_types_have_the_layouts_of_the_facts() {
        assert_eq!(HitRow::schema(), hits_schema());
        assert_eq!(VisitRow::schema(), visits_schema());
        assert_eq!(UsageRow::schema(), usages_schema());
        assert_eq!(TaggingFactRow::schema(), tagging_schema());
        assert_eq!(TaggingAnswer::schema(), tagging_schema());
        assert_eq!(RejectRow::schema(), rejects_schema());
        let sample: Vec<String> = RejectSampleRow::schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(sample, REJECT_SAMPLE_COLUMNS);
        for field in RejectSampleRow::schema().fields() {
            assert_eq!(field.as_ref(), rejects_schema().field_with_name(field.name()).unwrap(), "sample column {}", field.name());
        }
    }

    #[test]
    fn every_kind_has_the_clickhouse_type_of_its_tables() {
        fn check<K: Kind>() {
            assert_eq!(column_type(&Field::new("c", K::DATA_TYPE, K::NULLABLE)).unwrap(), K::CLICKHOUSE);
        }
        check::<UInt64>();
        check::<Int64>();
        check::<Date>();
        check::<Text>();
        check::<NullableText>();
        check::<Hex>();
        check::<Flag>();
    }

    fn refusals() -> RecordBatch {
        let text = |values: &[Option<&str>]| Arc::new(StringArray::from(values.to_vec())) as ArrayRef;
        RecordBatch::try_new(
            rejects_schema(),
            vec![
                Arc::new(UInt64Array::from(vec![1, u64::MAX])),
                Arc::new(Int64Array::from(vec![-5, 42])),
                Arc::new(Date32Array::from(vec![20_415, 0])),
                text(&[Some("ENT \"Nord\" é"), None]),
                text(&[None, Some("site")]),
                text(&[Some("page"), Some("click")]),
                text(&[Some("unknown_value"), Some("missing")]),
                text(&[Some("service"), Some("uai")]),
                text(&[Some("X?Y"), None]),
                text(&[Some("{}"), Some("{\"a\":1}")]),
            ],
        )
        .unwrap()
    }

    #[test]
    fn batches_round_trip_through_rows() {
        let batch = refusals();
        let mut columns = RejectColumns::default();
        for row in RejectRow::rows(&batch).unwrap() {
            columns.push(row.unwrap()).unwrap();
        }
        assert_eq!(columns.finish().unwrap(), batch);
        let first = RejectRow::rows(&batch).unwrap().next().unwrap().unwrap();
        assert_eq!((first.day, first.plateforme, first.site, first.value), (20_415, Some("ENT \"Nord\" é"), None, Some("X?Y")));
    }

    #[test]
    fn visitors_travel_as_lower_case_hex() {
        let hits = crate::facts::hits_batch(&crate::store::conformance::one_day_of_hits(50));
        let row = HitRow::rows(&hits).unwrap().next().unwrap().unwrap();
        assert!(row.visitor.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{}", row.visitor);
        let mut columns = HitColumns::default();
        for row in HitRow::rows(&hits).unwrap() {
            columns.push(row.unwrap()).unwrap();
        }
        assert_eq!(columns.finish().unwrap(), hits);
        let mut bad = HitColumns::default();
        let mut row = HitRow::rows(&hits).unwrap().next().unwrap().unwrap();
        row.visitor = Cow::Borrowed("zz");
        assert!(bad.push(row).unwrap_err().to_string().contains("not hex"));
    }

    #[test]
    fn days_outside_clickhouse_dates_and_missing_columns_are_named() {
        let mut batch = refusals();
        let mut columns = batch.columns().to_vec();
        columns[2] = Arc::new(Date32Array::from(vec![-1, 0]));
        batch = RecordBatch::try_new(rejects_schema(), columns).unwrap();
        let err = RejectRow::rows(&batch).unwrap().next().unwrap().unwrap_err().to_string();
        assert!(err.contains("1969-12-31") && err.contains("Date range"), "{err}");
        let err = HitRow::rows(&batch).err().unwrap().to_string();
        assert!(err.contains("`time_ms`"), "{err}");
    }

    #[test]
    fn answers_are_cast_to_the_row_types() {
        let sql = RejectedEventsAnswer::select_from("SELECT 1");
        assert_eq!(
            sql,
            "SELECT CAST(answer.`day` AS Date) AS `day`, CAST(answer.`plateforme` AS Nullable(String)) AS `plateforme`, \
             CAST(answer.`events` AS Int64) AS `events`, CAST(answer.`recovered` AS Int64) AS `recovered` FROM (SELECT 1) AS answer"
        );
    }
}
