//! The ClickHouse tables of [`super::ClickHouseRollupStore`], written from the same Arrow layouts
//! as the embedded store's Parquet files, so both stores hold the same columns. Each statement
//! is idempotent (`IF NOT EXISTS`); [`VERSION`] is recorded in the `migrations` table.

use datafusion::arrow::datatypes::SchemaRef;

use super::rows::column_type;
use crate::error::PipelineError;
use crate::facts::{hits_schema, usages_schema, visits_schema};
use crate::frozen::frozen_schema;
use crate::tagging::{rejects_schema, tagging_schema};

/// The schema version these statements create.
pub const VERSION: u32 = 9;

fn columns(schema: &SchemaRef, extra: &[&str]) -> Result<String, PipelineError> {
    let mut columns = schema.fields().iter().map(|f| Ok(format!("`{}` {}", f.name(), column_type(f)?))).collect::<Result<Vec<_>, PipelineError>>()?;
    columns.extend(extra.iter().map(|c| (*c).to_owned()));
    Ok(columns.join(", "))
}

/// A table's columns in order, each with its ClickHouse type.
pub type Columns = Vec<(String, String)>;

/// The tables whose columns come from an Arrow layout, each with those columns in order and
/// their ClickHouse types. A table created by an older version lacks the columns added since
/// (version 7: the school's kind and sector, `degre` and `secteur`, after `region`; version 9:
/// a visit's last hit `last_ms` and a usage's visit start `start_ms`, last, NULL in older rows):
/// [`super::ClickHouseRollupStore::migrate`] adds them, each after the column before it.
pub fn layout_columns() -> Result<Vec<(&'static str, Columns)>, PipelineError> {
    let named =
        |schema: SchemaRef| -> Result<Columns, PipelineError> { schema.fields().iter().map(|f| Ok((f.name().clone(), column_type(f)?))).collect() };
    Ok(vec![
        ("hits", named(hits_schema())?),
        ("visits", named(visits_schema())?),
        ("usages", named(usages_schema())?),
        ("ytd_visits", named(crate::year_to_date::schema("visits"))?),
        ("ytd_usages", named(crate::year_to_date::schema("usages"))?),
    ])
}

/// The `ALTER TABLE` adding to `table` (in `database`) the columns of its layout it lacks,
/// given the columns it has; `None` when it lacks none.
pub fn missing_columns_statement(database: &str, table: &str, layout: &[(String, String)], present: &[String]) -> Option<String> {
    let additions: Vec<String> = layout
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| !present.contains(name))
        .map(|(i, (name, kind))| match i {
            0 => format!("ADD COLUMN `{name}` {kind} FIRST"),
            _ => format!("ADD COLUMN `{name}` {kind} AFTER `{}`", layout[i - 1].0),
        })
        .collect();
    (!additions.is_empty()).then(|| format!("ALTER TABLE {database}.{table} {}", additions.join(", ")))
}

/// The `CREATE TABLE` statements of the store in `database`.
pub fn statements(database: &str) -> Result<Vec<String>, PipelineError> {
    let facts = |name: &str, schema: SchemaRef| -> Result<String, PipelineError> {
        Ok(format!(
            "CREATE TABLE IF NOT EXISTS {database}.{name} ({}) ENGINE = MergeTree PARTITION BY (toYYYYMMDD(day), generation) ORDER BY day",
            columns(&schema, &["generation UInt64"])?
        ))
    };
    Ok(vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.hits ({}) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(day) ORDER BY (day, `offset`)",
            columns(&hits_schema(), &[])?
        ),
        facts("visits", visits_schema())?,
        facts("usages", usages_schema())?,
        facts("tagging", tagging_schema())?,
        format!("CREATE TABLE IF NOT EXISTS {database}.generations (day Date, generation UInt64) ENGINE = ReplacingMergeTree(generation) ORDER BY day"),
        format!("CREATE TABLE IF NOT EXISTS {database}.dirty (day Date, version UInt64, dirty UInt8) ENGINE = ReplacingMergeTree(version) ORDER BY day"),
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.rejects ({}) ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(day) ORDER BY (day, `offset`, code, field)",
            columns(&rejects_schema(), &[])?
        ),
        // Version 2: digests of erased visitors held out of staging until the log forgets them.
        format!("CREATE TABLE IF NOT EXISTS {database}.erasure_holds (digest String, until Date) ENGINE = ReplacingMergeTree(until) ORDER BY digest"),
        // Version 3: cells of closed periods kept when their per-visitor facts are retired.
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.frozen_cells ({}) ENGINE = MergeTree PARTITION BY period_kind ORDER BY (period_kind, cell_level, period_start)",
            columns(&frozen_schema(), &["generation UInt64"])?
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.frozen_generations (period_kind String, period_start Date, generation UInt64) \
             ENGINE = ReplacingMergeTree(generation) ORDER BY (period_kind, period_start)"
        ),
        // Version 4: periods whose kept cells a change to their facts made stale; a period's
        // cells stand only while its latest generation is above its latest thaw.
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.frozen_thaws (period_kind String, period_start Date, generation UInt64) \
             ENGINE = ReplacingMergeTree(generation) ORDER BY (period_kind, period_start)"
        ),
        // Version 5: the open school year's facts summed per visitor, under a generation per
        // keeping; `years_to_date` says which generation and last day stand.
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.ytd_visits ({}) ENGINE = MergeTree PARTITION BY school_year ORDER BY (generation, departement, uai)",
            columns(&crate::year_to_date::schema("visits"), &["generation UInt64"])?
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.ytd_usages ({}) ENGINE = MergeTree PARTITION BY school_year ORDER BY (generation, dim, departement, uai)",
            columns(&crate::year_to_date::schema("usages"), &["generation UInt64"])?
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.years_to_date (school_year Date, through Date, generation UInt64) \
             ENGINE = ReplacingMergeTree(generation) ORDER BY school_year"
        ),
        // Version 6: what each generation of a day's facts was computed from (staged positions,
        // visit definition), and the visitors a step re-cuts (one partition per step, dropped
        // after it): a step re-cuts only the visitors with new hits.
        format!("CREATE TABLE IF NOT EXISTS {database}.facts_stamps (day Date, generation UInt64, stamp String) ENGINE = MergeTree ORDER BY (day, generation)"),
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.changed_visitors (generation UInt64, visitor String) ENGINE = MergeTree PARTITION BY generation ORDER BY visitor"
        ),
        // Version 8: facts divided by log partition, so that the pipelines of a consumer group
        // share the work (`parts.rs`): each (day, partition) has its own current generation and
        // its own marks, ordered by staged positions and epochs instead of clocks.
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.part_generations (day Date, partition UInt32, generation UInt64, version UInt64) \
             ENGINE = ReplacingMergeTree(version) ORDER BY (day, partition)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.dirty_parts (day Date, partition UInt32, version UInt64, dirty UInt8) \
             ENGINE = ReplacingMergeTree(version) ORDER BY (day, partition)"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {database}.forced_parts (day Date, partition UInt32, version UInt64, dirty UInt8) \
             ENGINE = ReplacingMergeTree(version) ORDER BY (day, partition)"
        ),
        format!("CREATE TABLE IF NOT EXISTS {database}.facts_retired (through Date, at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY through"),
        format!("CREATE TABLE IF NOT EXISTS {database}.migrations (version UInt32, applied DateTime DEFAULT now()) ENGINE = TinyLog"),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fact_layout_has_a_clickhouse_table() {
        let statements = statements("dnma").unwrap();
        assert_eq!(statements.len(), 21);
        assert!(statements[0].contains("`visitor` String") && statements[0].contains("`circonscription` Nullable(String)"), "{}", statements[0]);
        assert!(statements[1].contains("`school_year` Date") && statements[1].contains("generation UInt64"), "{}", statements[1]);
        assert!(statements.iter().all(|s| s.starts_with("CREATE TABLE IF NOT EXISTS dnma.")));
    }

    #[test]
    fn a_table_of_an_older_version_gains_the_columns_it_lacks_in_place() {
        let layouts = layout_columns().unwrap();
        let (_, visits) = layouts.iter().find(|(t, _)| *t == "visits").unwrap();
        let present: Vec<String> = visits.iter().map(|(n, _)| n.clone()).filter(|n| n != "degre" && n != "secteur").collect();
        assert_eq!(
            missing_columns_statement("dnma", "visits", visits, &present).unwrap(),
            "ALTER TABLE dnma.visits ADD COLUMN `degre` Nullable(String) AFTER `region`, ADD COLUMN `secteur` Nullable(String) AFTER `degre`"
        );
        let all: Vec<String> = visits.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(missing_columns_statement("dnma", "visits", visits, &all), None);
    }
}
