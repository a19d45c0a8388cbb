//! Arrow record batches to and from ClickHouse's `JSONEachRow` format (one JSON object per line),
//! which every ClickHouse server from 18.16 on reads and writes, and the ClickHouse column type
//! of each Arrow field. Binary columns (pseudonymous visitors) travel as lower-case hex strings,
//! booleans as `UInt8`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder, Int64Builder, RecordBatch, StringBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Int64Type, SchemaRef, UInt64Type};
use serde_json::{Map, Value};

use crate::error::PipelineError;
use crate::facts::{date32, from_date32};

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

/// The rows of a batch as `JSONEachRow`, each with the `extra` columns appended.
pub fn to_json_each_row(batch: &RecordBatch, extra: &[(&str, u64)]) -> Result<Vec<u8>, PipelineError> {
    let schema = batch.schema();
    let mut out = Vec::with_capacity(batch.num_rows() * 64 * batch.num_columns());
    for row in 0..batch.num_rows() {
        out.push(b'{');
        let mut first = true;
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            if column.is_null(row) {
                continue; // a missing key reads as NULL (or the default) in ClickHouse
            }
            if !first {
                out.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut out, field.name()).map_err(json_error)?;
            out.push(b':');
            write_value(&mut out, field, column, row)?;
        }
        for (name, value) in extra {
            if !first {
                out.push(b',');
            }
            first = false;
            write!(out, "\"{name}\":{value}").map_err(|e| PipelineError::Store(e.to_string()))?;
        }
        out.extend_from_slice(b"}\n");
    }
    Ok(out)
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(json_error)`
fn json_error(e: serde_json::Error) -> PipelineError {
    PipelineError::Store(format!("JSON: {e}"))
}

fn write_value(out: &mut Vec<u8>, field: &Field, column: &ArrayRef, row: usize) -> Result<(), PipelineError> {
    let io = |e: std::io::Error| PipelineError::Store(e.to_string());
    match field.data_type() {
        DataType::UInt64 => write!(out, "{}", column.as_primitive::<UInt64Type>().value(row)).map_err(io),
        DataType::Int64 => write!(out, "{}", column.as_primitive::<Int64Type>().value(row)).map_err(io),
        DataType::Date32 => write!(out, "\"{}\"", from_date32(column.as_primitive::<Date32Type>().value(row))).map_err(io),
        DataType::Utf8 => serde_json::to_writer(&mut *out, column.as_string::<i32>().value(row)).map_err(json_error),
        DataType::Binary => {
            let bytes = column.as_binary::<i32>().value(row);
            let mut hex = String::with_capacity(bytes.len() * 2 + 2);
            hex.push('"');
            for b in bytes {
                let _ = write!(hex, "{b:02x}");
            }
            hex.push('"');
            out.extend_from_slice(hex.as_bytes());
            Ok(())
        }
        DataType::Boolean => write!(out, "{}", u8::from(column.as_boolean().value(row))).map_err(io),
        other => Err(PipelineError::Store(format!("cannot send column {} ({other}) to ClickHouse", field.name()))),
    }
}

/// One column being rebuilt from JSON values.
enum Column {
    UInt64(UInt64Builder),
    Int64(Int64Builder),
    Date(Date32Builder),
    Text(StringBuilder),
    Binary(BinaryBuilder),
    Boolean(BooleanBuilder),
}

impl Column {
    fn for_field(field: &Field) -> Result<Column, PipelineError> {
        Ok(match field.data_type() {
            DataType::UInt64 => Column::UInt64(UInt64Builder::new()),
            DataType::Int64 => Column::Int64(Int64Builder::new()),
            DataType::Date32 => Column::Date(Date32Builder::new()),
            DataType::Utf8 => Column::Text(StringBuilder::new()),
            DataType::Binary => Column::Binary(BinaryBuilder::new()),
            DataType::Boolean => Column::Boolean(BooleanBuilder::new()),
            other => return Err(PipelineError::Store(format!("cannot read column {} ({other}) from ClickHouse", field.name()))),
        })
    }

    fn push(&mut self, name: &str, value: Option<&Value>) -> Result<(), PipelineError> {
        let bad = || PipelineError::Store(format!("ClickHouse sent {value:?} for column {name}"));
        let value = value.filter(|v| !v.is_null());
        let integer = |v: &Value| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
        match self {
            Column::UInt64(b) => {
                let unsigned = |v: &Value| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
                b.append_option(value.map(|v| unsigned(v).ok_or_else(bad)).transpose()?);
            }
            Column::Int64(b) => b.append_option(value.map(|v| integer(v).ok_or_else(bad)).transpose()?),
            Column::Date(b) => b.append_option(value.map(|v| v.as_str().and_then(|s| s.parse().ok()).map(date32).ok_or_else(bad)).transpose()?),
            Column::Text(b) => b.append_option(value.map(|v| v.as_str().ok_or_else(bad)).transpose()?),
            Column::Binary(b) => b.append_option(value.map(|v| v.as_str().and_then(|s| hex::decode(s).ok()).ok_or_else(bad)).transpose()?),
            Column::Boolean(b) => b.append_option(value.map(|v| v.as_bool().or_else(|| integer(v).map(|n| n != 0)).ok_or_else(bad)).transpose()?),
        }
        Ok(())
    }

    fn finish(self) -> ArrayRef {
        match self {
            Column::UInt64(mut b) => Arc::new(b.finish()),
            Column::Int64(mut b) => Arc::new(b.finish()),
            Column::Date(mut b) => Arc::new(b.finish()),
            Column::Text(mut b) => Arc::new(b.finish()),
            Column::Binary(mut b) => Arc::new(b.finish()),
            Column::Boolean(mut b) => Arc::new(b.finish()),
        }
    }
}

/// A batch of `schema` from a `JSONEachRow` answer (columns matched by name; extra keys ignored).
pub fn from_json_each_row(body: &str, schema: &SchemaRef) -> Result<RecordBatch, PipelineError> {
    let mut columns = schema.fields().iter().map(|f| Column::for_field(f)).collect::<Result<Vec<_>, _>>()?;
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let object: Map<String, Value> = serde_json::from_str(line).map_err(json_error)?;
        for (field, column) in schema.fields().iter().zip(columns.iter_mut()) {
            column.push(field.name(), object.get(field.name()))?;
        }
    }
    Ok(RecordBatch::try_new(schema.clone(), columns.into_iter().map(Column::finish).collect())?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Schema;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("offset", DataType::UInt64, false),
            Field::new("day", DataType::Date32, false),
            Field::new("visitor", DataType::Binary, false),
            Field::new("circonscription", DataType::Utf8, true),
            Field::new("page_view", DataType::Boolean, false),
            Field::new("time_ms", DataType::Int64, false),
        ]))
    }

    #[test]
    fn batches_round_trip_through_json_each_row() {
        let mut columns = schema().fields().iter().map(|f| Column::for_field(f).unwrap()).collect::<Vec<_>>();
        let rows = [
            [json_u(1), Value::from("2026-11-23"), Value::from("00ff10"), Value::from("Rennes \"Nord\" é"), Value::from(1), Value::from(-5)],
            [json_u(u64::MAX), Value::from("2027-01-01"), Value::from(""), Value::Null, Value::from(0), Value::from("42")],
        ];
        for row in &rows {
            for ((field, column), value) in schema().fields().iter().zip(columns.iter_mut()).zip(row) {
                column.push(field.name(), Some(value)).unwrap();
            }
        }
        let batch = RecordBatch::try_new(schema(), columns.into_iter().map(Column::finish).collect()).unwrap();
        let json = String::from_utf8(to_json_each_row(&batch, &[("generation", 7)]).unwrap()).unwrap();
        assert!(json.starts_with(r#"{"offset":1,"day":"2026-11-23","visitor":"00ff10","circonscription":"Rennes \"Nord\" é","page_view":1,"time_ms":-5,"generation":7}"#), "{json}");
        assert!(!json.lines().nth(1).unwrap().contains("circonscription"), "NULL is a missing key: {json}");
        assert_eq!(from_json_each_row(&json, &schema()).unwrap(), batch);
    }

    #[test]
    fn bad_values_are_named() {
        let err = from_json_each_row("{\"offset\":\"x\",\"day\":\"2026-11-23\"}\n", &schema()).unwrap_err().to_string();
        assert!(err.contains("offset"), "{err}");
    }

    #[test]
    fn nullable_fields_get_nullable_types() {
        assert_eq!(column_type(&Field::new("c", DataType::Utf8, true)).unwrap(), "Nullable(String)");
        assert_eq!(column_type(&Field::new("v", DataType::Binary, false)).unwrap(), "String");
        assert!(column_type(&Field::new("f", DataType::Float32, false)).is_err());
    }

    fn json_u(n: u64) -> Value {
        Value::from(n)
    }
}
