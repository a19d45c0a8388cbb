//! Sessionization in DataFusion SQL with window functions: `lag` marks the hits that start a
//! visit, a running `sum` numbers the visits, `first_value(… ORDER BY time)` takes the attributes
//! of each visit's first hit, and a join gives each visit's services and tools.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;

use super::CoreFacts;
use crate::facts::{core_usages_schema, core_visits_schema, hits_schema, VISIT_ATTRIBUTES};

/// The attributes a visit takes from its first hit, other than its key.
fn first_hit_attributes() -> impl Iterator<Item = &'static str> {
    VISIT_ATTRIBUTES.into_iter().filter(|a| !matches!(*a, "visitor" | "plateforme"))
}

fn numbered_sql(timeout_ms: i64) -> String {
    let window = r#"PARTITION BY day, plateforme, visitor ORDER BY time_ms, "offset""#;
    format!(
        "WITH marked AS (
           SELECT *, CASE WHEN time_ms - lag(time_ms) OVER ({window}) <= {timeout_ms} THEN 0 ELSE 1 END AS starts FROM hits
         )
         SELECT *, sum(starts) OVER ({window} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS visit_no FROM marked"
    )
}

fn visits_sql() -> String {
    let firsts: Vec<String> = first_hit_attributes().map(|a| format!(r#"first_value({a} ORDER BY time_ms, "offset") AS {a}"#)).collect();
    format!(
        "SELECT day, plateforme, visitor, visit_no, {},
                min(time_ms) AS start_ms, max(time_ms) AS last_ms, (max(time_ms) - min(time_ms)) / 1000 AS duration_s, count(*) AS hits,
                sum(CASE WHEN page_view THEN 1 ELSE 0 END) AS page_views, sum(CASE WHEN click THEN 1 ELSE 0 END) AS clicks
         FROM numbered GROUP BY day, plateforme, visitor, visit_no",
        firsts.join(", ")
    )
}

fn usages_sql() -> String {
    let attributes: Vec<String> = std::iter::once("day").chain(VISIT_ATTRIBUTES).map(|a| format!("v.{a}")).collect();
    let per_dim = |dim: &str, filter: &str| {
        format!(
            "SELECT day, plateforme, visitor, visit_no, '{dim}' AS dim, {dim} AS value,
                    sum(CASE WHEN page_view THEN 1 ELSE 0 END) AS page_views, sum(CASE WHEN click THEN 1 ELSE 0 END) AS clicks
             FROM numbered {filter} GROUP BY day, plateforme, visitor, visit_no, {dim}"
        )
    };
    format!(
        "SELECT {}, u.dim, u.value, v.duration_s, u.page_views, u.clicks, v.start_ms
         FROM ({} UNION ALL {}) u
         JOIN visits v ON u.day = v.day AND u.plateforme = v.plateforme AND u.visitor = v.visitor AND u.visit_no = v.visit_no",
        attributes.join(", "),
        per_dim("service", ""),
        per_dim("outil", "WHERE outil IS NOT NULL"),
    )
}

/// Runs a query and lays its result out as `schema` says (same column order and types).
async fn collect_as(ctx: &SessionContext, sql: &str, schema: &datafusion::arrow::datatypes::SchemaRef) -> Result<RecordBatch, DataFusionError> {
    let columns: Vec<String> = schema.fields().iter().map(|f| format!(r#""{}""#, f.name())).collect();
    let frame = ctx.sql(&format!("SELECT {} FROM ({sql})", columns.join(", "))).await?;
    let batches = frame.collect().await?;
    let result_schema = batches.first().map_or_else(|| schema.clone(), RecordBatch::schema);
    let all = concat_batches(&result_schema, &batches)?;
    let columns = all.columns().iter().zip(schema.fields()).map(|(c, f)| cast(c, f.data_type())).collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Cuts hits into visits (see [`super`] for the rules).
pub async fn sessionize(hits: Vec<RecordBatch>, timeout_ms: i64) -> Result<CoreFacts, DataFusionError> {
    let ctx = SessionContext::new();
    ctx.register_table("hits", Arc::new(MemTable::try_new(hits_schema(), vec![hits])?))?;
    let numbered = ctx.sql(&numbered_sql(timeout_ms)).await?.cache().await?;
    ctx.register_table("numbered", numbered.into_view())?;
    let visits = ctx.sql(&visits_sql()).await?.cache().await?;
    ctx.register_table("visits", visits.into_view())?;
    let visits_out = collect_as(&ctx, "SELECT * FROM visits", &core_visits_schema()).await?;
    let usages_out = collect_as(&ctx, &usages_sql(), &core_usages_schema()).await?;
    Ok(CoreFacts { visits: visits_out, usages: usages_out })
}
