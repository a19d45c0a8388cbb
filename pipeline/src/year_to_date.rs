//! Year to date: the open school year's visits and usages summed per visitor, so that its
//! school-year figures (exact unique visitors included) are read from a table twenty times
//! smaller than its facts.
//!
//! A closed school year's cells are kept whole ([`crate::materialize`]); an open one cannot be,
//! since its figures change every day and distinct visitors do not add up across days. What
//! can be kept is one row per visitor and combination of the facts' attributes over the year's
//! first days up to a settled day `through` ([`keep_sql`]): each holds that visitor's visits,
//! page views, clicks and seconds there. A school-year query then reads these rows together
//! with the facts of the days after `through` ([`union_source`]); counting distinct visitors
//! over both is exact, because a visitor counted in both is counted once.
//!
//! The rows hold pseudonyms, like the facts they come from: a store drops them before any
//! change to the facts of a day up to `through` (a late hit's recomputation, an erasure), and
//! when facts are retired. The pipeline keeps them again, up to the latest settled day, once a
//! day ([`crate::materialize::materialize_next`]): from the facts of the whole span when none
//! stand, otherwise by extending the standing rows with the facts of the days since
//! ([`extend_sql`]), so that a day's keeping reads the rows and the new days, not the year.

use std::sync::{Arc, LazyLock};

use chrono::NaiveDate;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::error::PipelineError;
use crate::facts::VISIT_ATTRIBUTES;
use crate::model::Period;
use crate::query::{Dialect, IndicatorQuery};

/// The two fact tables summed per visitor.
pub const TABLES: [&str; 2] = ["visits", "usages"];

/// The column holding how many visits a row stands for (1 for a fact row).
pub const VISIT_COUNT: &str = "visit_count";

fn grouped_columns(table: &str) -> Vec<&'static str> {
    let mut columns = vec!["school_year"];
    columns.extend(VISIT_ATTRIBUTES);
    if table == "usages" {
        columns.extend(["dim", "value"]);
    }
    columns
}

fn columns(table: &str) -> Vec<&'static str> {
    let mut columns = vec!["day", "week", "month"];
    columns.extend(grouped_columns(table));
    columns.extend([VISIT_COUNT, "page_views", "clicks", "duration_s"]);
    columns
}

/// Layout of the year-to-date rows of `table` (`visits` or `usages`): the period columns (`day`
/// is `through`), the attributes the indicators group by, then the sums.
pub fn schema(table: &str) -> SchemaRef {
    static VISITS: LazyLock<SchemaRef> = LazyLock::new(|| build_schema("visits"));
    static USAGES: LazyLock<SchemaRef> = LazyLock::new(|| build_schema("usages"));
    if table == "usages" {
        USAGES.clone()
    } else {
        VISITS.clone()
    }
}

fn build_schema(table: &str) -> SchemaRef {
    let fields: Vec<Field> = columns(table)
        .into_iter()
        .map(|name| match name {
            "day" | "week" | "month" | "school_year" => Field::new(name, DataType::Date32, false),
            "visitor" => Field::new(name, DataType::Binary, false),
            VISIT_COUNT | "page_views" | "clicks" | "duration_s" => Field::new(name, DataType::Int64, false),
            _ => Field::new(name, DataType::Utf8, crate::facts::nullable_attribute(name)),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The SQL summing the facts of `table` per visitor over `year..=through` (the facts named by
/// `source`). Columns: those of [`schema`], in order (output names differ from the facts'
/// columns, which ClickHouse would otherwise read as the aliases).
pub fn keep_sql(table: &str, year: NaiveDate, through: NaiveDate, dialect: Dialect, source: &dyn Fn(&str) -> String) -> String {
    summed_sql(table, year, through, dialect, &source(table), "count(*)")
}

/// The SQL extending the rows kept over `year..=kept_through` (`kept`, a table or subquery) to
/// `year..=through`, with the facts of the days in between (`facts`, a table or subquery): the
/// sums of the kept rows and of those facts, per visitor and attributes again. Sums add up
/// across days, so this gives what [`keep_sql`] over the whole span gives, reading the kept
/// rows and the new days' facts instead of every day's facts. Columns: those of [`schema`].
pub fn extend_sql(table: &str, year: NaiveDate, kept_through: NaiveDate, through: NaiveDate, dialect: Dialect, kept: &str, facts: &str) -> String {
    let source = union_source(table, kept, facts, kept_through, dialect);
    summed_sql(table, year, through, dialect, &source, &format!("sum({VISIT_COUNT})"))
}

/// Sums `source`'s rows of `year..=through` per visitor and attributes, `visits` counting them.
fn summed_sql(table: &str, year: NaiveDate, through: NaiveDate, dialect: Dialect, source: &str, visits: &str) -> String {
    let grouped = grouped_columns(table).join(", ");
    format!(
        "SELECT {day} AS k_day, {week} AS k_week, {month} AS k_month, {grouped}, {visits} AS k_visits, sum(page_views) AS k_page_views, \
                sum(clicks) AS k_clicks, sum(duration_s) AS k_duration_s
         FROM {source} WHERE day >= {first} AND day <= {last}
         GROUP BY {grouped}",
        day = dialect.date(through),
        week = dialect.date(Period::Week.start_of(through)),
        month = dialect.date(Period::Month.start_of(through)),
        first = dialect.date(year),
        last = dialect.date(through),
    )
}

/// A table expression named `table` standing for the year's facts: the year-to-date rows
/// (`kept`, a table or subquery) and the facts after `through` (`facts`, a table or subquery),
/// with [`VISIT_COUNT`] on both sides.
pub fn union_source(table: &str, kept: &str, facts: &str, through: NaiveDate, dialect: Dialect) -> String {
    let all = columns(table);
    let facts_columns: Vec<String> =
        all.iter().map(|c| if *c == VISIT_COUNT { format!("{} AS {VISIT_COUNT}", one(dialect)) } else { (*c).to_owned() }).collect();
    format!(
        "(SELECT {kept_columns} FROM {kept} UNION ALL SELECT {facts_columns} FROM {facts} WHERE day > {through}) AS {table}",
        kept_columns = all.join(", "),
        facts_columns = facts_columns.join(", "),
        through = dialect.date(through),
    )
}

fn one(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::DataFusion => "CAST(1 AS BIGINT)",
        Dialect::ClickHouse => "toInt64(1)",
    }
}

/// The school year (its first day) whose year-to-date rows could answer a query: a query over
/// exactly one whole school year.
pub fn year_of(query: &IndicatorQuery) -> Option<NaiveDate> {
    let (first, last) = query.days();
    (query.period == Period::SchoolYear && Period::SchoolYear.end_of(first) == last).then_some(first)
}

/// Checks that `year..=through` is a school year's first days: `year` its first day, `through`
/// within it.
pub fn check_span(year: NaiveDate, through: NaiveDate) -> Result<(), PipelineError> {
    if Period::SchoolYear.start_of(year) != year || Period::SchoolYear.start_of(through) != year {
        return Err(PipelineError::Query(format!("{year}..={through} is not the start of a school year")));
    }
    Ok(())
}

/// Whether the rows kept over `year..=through` are made stale by a change to the facts of `day`.
pub fn staled_by(year: NaiveDate, through: NaiveDate, day: NaiveDate) -> bool {
    (year..=through).contains(&day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn rows_are_summed_per_visitor_and_attribute() {
        let sql = keep_sql("usages", day("2025-09-01"), day("2025-11-20"), Dialect::ClickHouse, &|t| t.to_owned());
        assert!(sql.contains("GROUP BY school_year, visitor, plateforme") && sql.contains("browser, dim, value"), "{sql}");
        assert!(sql.contains("day >= toDate('2025-09-01') AND day <= toDate('2025-11-20')"), "{sql}");
        assert!(sql.contains("toDate('2025-11-17') AS k_week") && sql.contains("count(*) AS k_visits"), "{sql}");
        assert_eq!(schema("usages").fields().len(), 3 + 1 + VISIT_ATTRIBUTES.len() + 2 + 4);
        assert_eq!(schema("visits").field(3).name(), "school_year");
    }

    #[test]
    fn the_union_reads_the_facts_after_the_kept_days() {
        let sql = union_source("visits", "ytd", "visits_facts", day("2025-11-20"), Dialect::DataFusion);
        assert!(sql.starts_with("(SELECT day, week, month, school_year, visitor"), "{sql}");
        assert!(sql.contains("CAST(1 AS BIGINT) AS visit_count") && sql.ends_with("WHERE day > DATE '2025-11-20') AS visits"), "{sql}");
    }

    #[test]
    fn only_whole_school_year_queries_are_answered() {
        let year = IndicatorQuery::new(crate::Level::Academie, Period::SchoolYear, day("2025-10-01"), day("2025-12-01"));
        assert_eq!(year_of(&year), Some(day("2025-09-01")));
        let two = IndicatorQuery::new(crate::Level::Academie, Period::SchoolYear, day("2024-10-01"), day("2025-12-01"));
        assert_eq!(year_of(&two), None);
        let month = IndicatorQuery::new(crate::Level::Academie, Period::Month, day("2025-10-01"), day("2025-10-01"));
        assert_eq!(year_of(&month), None);
        assert!(staled_by(day("2025-09-01"), day("2025-11-20"), day("2025-11-20")));
        assert!(!staled_by(day("2025-09-01"), day("2025-11-20"), day("2025-11-21")));
    }
}
