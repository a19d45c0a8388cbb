//! Frozen cells: the figures of closed periods, kept when the per-visitor facts they come from
//! are retired ([`crate::fact_retention`]).
//!
//! Per-visitor facts (staged hits, visits, usages, refusals) are deleted after the retention of
//! identifiers (13 months by default). Before the days of a period go, every cell of that period
//! a dashboard, the API or `dnma query` asks for is computed once from the facts, exactly, and
//! kept: one row per cell of each [`CellSet`] (a level, a breakdown and at most one filter
//! dimension). A cell holds counts and no pseudonym. Queries over a frozen period read these
//! rows ([`lookup_sql`]); a combination not kept (two filters and a third breakdown, or a
//! territory within an ENT entity) gets a clear error.
//!
//! The same cells are also kept, while the facts are still there, for closed periods whose
//! figures the dashboards read often ([`crate::materialize`]): then they are a copy, dropped
//! ("thawed", [`thawed_by`]) by the store before any change to the facts of one of their days
//! (a late hit's recomputation, an erasure), and a combination not kept is read from the facts.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;

use crate::model::{Breakdown, Level, Period, NATION_CODE};
use crate::query::{sql_literal, Dialect, IndicatorQuery, InvalidQuery};

/// The territorial levels whose codes a cell keeps (from its facts), so that the cells of a
/// finer level can be read within one of them.
pub const ANCESTORS: [Level; 4] = [Level::Circonscription, Level::Departement, Level::Academie, Level::Region];

/// Layout of the frozen cells. Column names differ from every fact column, so that no engine
/// mistakes an output alias for an input column.
pub fn frozen_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
        let mut fields = vec![
            text("period_kind", false),
            Field::new("period_start", DataType::Date32, false),
            text("cell_level", false),
            text("code", false),
            text("breakdown", true),
            text("breakdown_value", true),
            text("in_profil", true),
            text("in_service", true),
            text("in_projet", true),
        ];
        fields.extend(ANCESTORS.iter().map(|l| text(&ancestor_column(*l), true)));
        fields.extend(["visits", "visitors", "page_views", "clicks", "duration_s"].map(|n| Field::new(n, DataType::Int64, false)));
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

fn ancestor_column(level: Level) -> String {
    format!("in_{}", level.name())
}

/// One grouping of the cells kept for a period: a level, a breakdown, and at most one filter
/// dimension (each value of which is a cell of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellSet {
    /// Level of the cells.
    pub level: Level,
    /// Breakdown, if any.
    pub breakdown: Option<Breakdown>,
    /// Also per profile of the visit (for a profile filter over another breakdown).
    pub by_profil: bool,
    /// Also per service used (for a service filter over a first-hit breakdown).
    pub by_service: bool,
    /// Also per ENT project (for a school's or platform's cells within a project).
    pub by_projet: bool,
}

impl CellSet {
    fn plain(level: Level, breakdown: Option<Breakdown>) -> Self {
        CellSet { level, breakdown, by_profil: false, by_service: false, by_projet: false }
    }
}

/// Every cell set kept for a frozen period.
pub fn cell_sets() -> Vec<CellSet> {
    let mut sets = Vec::new();
    for level in Level::ALL {
        sets.push(CellSet::plain(level, None));
        sets.extend(Breakdown::ALL.iter().map(|b| CellSet::plain(level, Some(*b))));
        for b in Breakdown::ALL.into_iter().filter(|b| *b != Breakdown::Profil) {
            sets.push(CellSet { by_profil: true, ..CellSet::plain(level, Some(b)) });
        }
        for b in Breakdown::ALL.into_iter().filter(|b| !b.is_usage()) {
            sets.push(CellSet { by_service: true, ..CellSet::plain(level, Some(b)) });
        }
    }
    for level in [Level::Ecole, Level::Plateforme] {
        for b in [None, Some(Breakdown::Profil), Some(Breakdown::Service)] {
            sets.push(CellSet { by_projet: true, ..CellSet::plain(level, b) });
        }
    }
    sets
}

/// The SQL computing the cells of one set for every period of kind `period` starting within
/// `first..=last`, from the facts over `first..=last` (tables `visits` and `usages`, named by
/// `table`). Columns: those of [`frozen_schema`].
///
/// Distinct visitors are counted in two steps (per cell and visitor, then per cell) rather
/// than with `count(DISTINCT visitor)`: an engine then holds one row per cell and visitor, not
/// a set of visitors per cell, which is what bounds a freeze's memory over many cells.
pub fn freeze_sql(set: &CellSet, period: Period, first: NaiveDate, last: NaiveDate, dialect: Dialect, table: &dyn Fn(&str) -> String) -> String {
    let text = |expr: &str| match dialect {
        Dialect::DataFusion => expr.to_owned(),
        Dialect::ClickHouse => format!("CAST({expr} AS Nullable(String))"),
    };
    let null = dialect.null_string();
    let usage_dim = match set.breakdown {
        Some(b) if b.is_usage() => Some(b.column()),
        _ if set.by_service => Some("service"),
        _ => None,
    };
    let mut conditions = vec![format!("day >= {}", dialect.date(first)), format!("day <= {}", dialect.date(last))];
    // Grouping expressions over the facts, each named `g<i>` for the outer statement (names
    // no fact column has, so that no engine mistakes one for the other).
    let mut group: Vec<String> = Vec::new();
    let mut grouped = |expr: &str| {
        group.push(expr.to_owned());
        format!("g{}", group.len() - 1)
    };
    let start = grouped(period.column());
    let code = match set.level.column() {
        Some(column) => {
            conditions.push(format!("{column} IS NOT NULL"));
            grouped(column)
        }
        None => sql_literal(NATION_CODE),
    };
    if let Some(dim) = usage_dim {
        conditions.push(format!("dim = {}", sql_literal(dim)));
    }
    let value = match set.breakdown {
        Some(b) if b.is_usage() => "value".to_owned(),
        Some(b) => b.value_sql(),
        None => String::new(),
    };
    let mut shown = |expr: &str| if expr.is_empty() { null.to_owned() } else { text(&grouped(expr)) };
    let breakdown_value = shown(&value);
    let in_profil = shown(if set.by_profil { "profil" } else { "" });
    let in_service = shown(if set.by_service { "value" } else { "" });
    let in_projet = shown(if set.by_projet { "projet" } else { "" });
    let breakdown = set.breakdown.map_or_else(|| null.to_owned(), |b| text(&sql_literal(b.name())));
    let inner_groups: Vec<String> = group.iter().enumerate().map(|(i, expr)| format!("{expr} AS g{i}")).collect();
    let outer_groups: Vec<String> = (0..group.len()).map(|i| format!("g{i}")).collect();
    let inner_ancestors: Vec<String> = ANCESTORS.iter().map(|l| format!("max({}) AS m_{}", l.name(), l.name())).collect();
    let ancestors: Vec<String> = ANCESTORS.iter().map(|l| format!("{} AS {}", text(&format!("max(m_{})", l.name())), ancestor_column(*l))).collect();
    format!(
        "SELECT {kind} AS period_kind, {start} AS period_start, {level} AS cell_level, {code} AS code, {breakdown} AS breakdown,
                {breakdown_value} AS breakdown_value, {in_profil} AS in_profil, {in_service} AS in_service, {in_projet} AS in_projet,
                {ancestors}, sum(n_visits) AS visits, count(*) AS visitors, sum(n_page_views) AS page_views, sum(n_clicks) AS clicks,
                sum(n_duration_s) AS duration_s
         FROM (SELECT {inner_groups}, visitor AS g_visitor, {inner_ancestors}, count(*) AS n_visits, sum(page_views) AS n_page_views,
                      sum(clicks) AS n_clicks, sum(duration_s) AS n_duration_s
               FROM {table} WHERE {conditions}
               GROUP BY {group}, visitor) AS per_visitor
         GROUP BY {outer_groups}",
        kind = sql_literal(period.name()),
        level = sql_literal(set.level.name()),
        ancestors = ancestors.join(", "),
        inner_groups = inner_groups.join(", "),
        inner_ancestors = inner_ancestors.join(", "),
        table = table(if usage_dim.is_some() { "usages" } else { "visits" }),
        conditions = conditions.join(" AND "),
        group = group.join(", "),
        outer_groups = outer_groups.join(", "),
    )
}

/// The key columns of a cell (those of [`frozen_schema`] before its ancestors and counts).
const CELL_KEYS: [&str; 9] =
    ["period_kind", "period_start", "cell_level", "code", "breakdown", "breakdown_value", "in_profil", "in_service", "in_projet"];

/// The SQL adding up cells computed over disjoint sets of visitors (table `table`, in the
/// layout of [`frozen_schema`]): counts and distinct visitors add up, ancestors are the
/// largest. Columns: those of [`frozen_schema`].
pub fn merge_sql(table: &str) -> String {
    let keys = CELL_KEYS.join(", ");
    let ancestors: Vec<String> = ANCESTORS.iter().map(|l| format!("max({c}) AS {c}", c = ancestor_column(*l))).collect();
    let sums: Vec<String> = ["visits", "visitors", "page_views", "clicks", "duration_s"].iter().map(|c| format!("sum({c}) AS {c}")).collect();
    format!("SELECT {keys}, {}, {} FROM {table} GROUP BY {keys}", ancestors.join(", "), sums.join(", "))
}

/// The kept periods a change to `day`'s facts makes stale, which a store drops before making
/// the change: every period holding the day, except those starting on or before the last
/// retired day (`retired_through`), whose cells are final (the facts they come from are partly
/// gone, so they can never be computed again).
pub fn thawed_by(day: NaiveDate, retired_through: Option<NaiveDate>) -> Vec<(Period, NaiveDate)> {
    Period::ALL.iter().map(|p| (*p, p.start_of(day))).filter(|(_, start)| retired_through.is_none_or(|r| *start > r)).collect()
}

/// Longest span of days whose periods are frozen together (bounds the cells held at once).
const CHUNK_DAYS: i64 = 31;

/// The periods to freeze, in chunks of adjacent periods spanning at most a month (a longer
/// period alone): each chunk's first day, last day and period starts.
pub fn chunks(period: Period, starts: &BTreeSet<NaiveDate>) -> Vec<(NaiveDate, NaiveDate, Vec<NaiveDate>)> {
    let mut chunks: Vec<(NaiveDate, NaiveDate, Vec<NaiveDate>)> = Vec::new();
    for &start in starts {
        let end = period.end_of(start);
        match chunks.last_mut() {
            Some((first, last, members)) if (end - *first).num_days() < CHUNK_DAYS => {
                *last = end;
                members.push(start);
            }
            _ => chunks.push((start, end, vec![start])),
        }
    }
    chunks
}

/// A result of [`freeze_sql`] in the exact types of [`frozen_schema`] (engines differ in the
/// integer types of counts and sums).
pub fn in_frozen_layout(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = frozen_schema();
    let columns =
        schema.fields().iter().zip(batch.columns()).map(|(field, column)| cast(column, field.data_type())).collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema, columns)
}

/// Why a query over a frozen period cannot be answered.
fn not_kept(what: &str) -> InvalidQuery {
    InvalidQuery(format!(
        "{what} is not kept for periods whose per-visitor facts were retired (older than the retention of identifiers): \
         ask for one filter at a time, or a territory within a coarser territory"
    ))
}

/// The SQL reading, from the frozen cells (the table `table` names for `frozen`), the cells a
/// query asks for over the periods starting within `first..=last`. Columns: those of
/// [`crate::query::indicator_sql`] (`code`, `start`, `cell_value`, then the five counts).
pub fn lookup_sql(
    query: &IndicatorQuery,
    first: NaiveDate,
    last: NaiveDate,
    dialect: Dialect,
    table: &dyn Fn(&str) -> String,
) -> Result<String, InvalidQuery> {
    let eq = |column: &str, value: &str| format!("{column} = {}", sql_literal(value));
    let is_null = |column: &str| format!("{column} IS NULL");
    let (profil, service) = (query.profil.as_deref(), query.service.as_deref());
    let mut conditions = vec![
        eq("period_kind", query.period.name()),
        eq("cell_level", query.level.name()),
        format!("period_start >= {}", dialect.date(first)),
        format!("period_start <= {}", dialect.date(last)),
    ];
    // Which set holds the cells, and which of its values are asked. A school filter (kind or
    // sector) is the value of its breakdown's set, under the profile or service filter.
    let school: Vec<(Breakdown, &str)> = query.school_filters().collect();
    let (set_breakdown, value, in_profil, in_service) = match (query.breakdown, profil, service, school.as_slice()) {
        (_, _, _, []) => match (query.breakdown, profil, service) {
            (Some(b), _, Some(_)) if b.is_usage() => {
                return Err(InvalidQuery(format!("a service filter cannot be combined with the `{b}` breakdown")))
            }
            (None, None, None) => (None, None, None, None),
            (None | Some(Breakdown::Profil), Some(p), None) => (Some(Breakdown::Profil), Some(p), None, None),
            (None, None, Some(s)) => (Some(Breakdown::Service), Some(s), None, None),
            (None | Some(Breakdown::Profil), Some(p), Some(s)) => (Some(Breakdown::Profil), Some(p), None, Some(s)),
            (Some(b), None, None) => (Some(b), None, None, None),
            (Some(b), Some(p), None) => (Some(b), None, Some(p), None),
            (Some(b), None, Some(s)) => (Some(b), None, None, Some(s)),
            (Some(_), Some(_), Some(_)) => return Err(not_kept("a breakdown under both a profile and a service filter")),
        },
        (None, _, Some(_), _) if profil.is_some() => return Err(not_kept("a school filter under both a profile and a service filter")),
        (None, _, _, [(dimension, v)]) => {
            let v = dimension.school_value(v).map_err(|e| InvalidQuery(e.to_string()))?;
            (Some(*dimension), Some(v), profil, service)
        }
        _ => return Err(not_kept("a breakdown or a second school filter under a school filter")),
    };
    conditions.push(set_breakdown.map_or_else(|| is_null("breakdown"), |b| eq("breakdown", b.name())));
    if let Some(v) = value {
        conditions.push(eq("breakdown_value", v));
    }
    conditions.push(in_profil.map_or_else(|| is_null("in_profil"), |p| eq("in_profil", p)));
    conditions.push(in_service.map_or_else(|| is_null("in_service"), |s| eq("in_service", s)));
    let mut in_projet = None;
    match &query.within {
        None | Some((Level::Nation, _)) => {}
        Some((within, code)) if *within == query.level => conditions.push(eq("code", code)),
        Some((within, code)) if territorial_rank(*within).zip(territorial_rank(query.level)).is_some_and(|(w, l)| w > l) => {
            conditions.push(eq(&ancestor_column(*within), code));
        }
        Some((Level::Projet, code))
            if matches!(query.level, Level::Ecole | Level::Plateforme)
                && in_profil.is_none()
                && in_service.is_none()
                && matches!(set_breakdown, None | Some(Breakdown::Profil | Breakdown::Service)) =>
        {
            in_projet = Some(code.as_str());
        }
        Some((within, _)) => return Err(not_kept(&format!("the {} level within a {} (with these filters)", query.level.name(), within.name()))),
    }
    conditions.push(in_projet.map_or_else(|| is_null("in_projet"), |p| eq("in_projet", p)));
    let shown_value = if query.breakdown.is_some() { "breakdown_value" } else { dialect.null_string() };
    Ok(format!(
        "SELECT code, period_start AS start, {shown_value} AS cell_value, visits, visitors, page_views, clicks, duration_s FROM {} WHERE {} \
         ORDER BY code, start, cell_value NULLS FIRST",
        table("frozen"),
        conditions.join(" AND ")
    ))
}

/// Rank of a territorial level from the finest (school) to the coarsest below the nation.
fn territorial_rank(level: Level) -> Option<u8> {
    match level {
        Level::Ecole => Some(0),
        Level::Circonscription => Some(1),
        Level::Departement => Some(2),
        Level::Academie => Some(3),
        Level::Region => Some(4),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_change_to_a_day_thaws_its_periods_except_those_holding_a_retired_day() {
        let all = thawed_by(day("2025-10-15"), None);
        assert_eq!(
            all,
            vec![
                (Period::Day, day("2025-10-15")),
                (Period::Week, day("2025-10-13")),
                (Period::Month, day("2025-10-01")),
                (Period::SchoolYear, day("2025-09-01"))
            ]
        );
        // Retired through 2025-10-13: the week (starting that day) and the school year are final.
        assert_eq!(thawed_by(day("2025-10-15"), Some(day("2025-10-13"))), vec![(Period::Day, day("2025-10-15"))]);
        assert_eq!(thawed_by(day("2025-10-15"), Some(day("2025-10-12"))), vec![(Period::Day, day("2025-10-15")), (Period::Week, day("2025-10-13"))]);
    }

    #[test]
    fn every_level_and_breakdown_is_kept_with_one_filter_at_a_time() {
        let sets = cell_sets();
        // Per level: all visits, each of 8 breakdowns, each but the profile under a profile
        // filter, each first-hit one (profile, device, OS, browser, kind, sector) under a
        // service filter; then schools and platforms within their project.
        assert_eq!(sets.len(), 9 * (1 + 8 + 7 + 6) + 6);
        for level in Level::ALL {
            assert!(sets.contains(&CellSet::plain(level, None)));
        }
    }

    #[test]
    fn filters_are_read_from_the_set_that_holds_them() {
        let mut q = IndicatorQuery::new(Level::Academie, Period::Week, day("2024-09-02"), day("2024-09-08"));
        q.profil = Some("ELEVE".into());
        let sql = lookup_sql(&q, day("2024-09-02"), day("2024-09-02"), Dialect::DataFusion, &|t| t.to_owned()).unwrap();
        assert!(
            sql.contains("breakdown = 'profil'") && sql.contains("breakdown_value = 'ELEVE'") && sql.contains("CAST(NULL AS VARCHAR) AS cell_value"),
            "{sql}"
        );
        q.service = Some("MESSAGERIE".into());
        let sql = lookup_sql(&q, day("2024-09-02"), day("2024-09-02"), Dialect::DataFusion, &|t| t.to_owned()).unwrap();
        assert!(sql.contains("in_service = 'MESSAGERIE'") && sql.contains("breakdown_value = 'ELEVE'"), "{sql}");
        q = q.by(Breakdown::Os);
        assert!(lookup_sql(&q, day("2024-09-02"), day("2024-09-02"), Dialect::DataFusion, &|t| t.to_owned()).unwrap_err().0.contains("not kept"));
    }

    #[test]
    fn within_a_coarser_territory_reads_the_kept_ancestor() {
        let mut q = IndicatorQuery::new(Level::Ecole, Period::Month, day("2024-09-01"), day("2024-09-30"));
        q.within = Some((Level::Academie, "Rennes".into()));
        let sql = lookup_sql(&q, day("2024-09-01"), day("2024-09-01"), Dialect::ClickHouse, &|t| t.to_owned()).unwrap();
        assert!(sql.contains("in_academie = 'Rennes'") && sql.contains("in_projet IS NULL"), "{sql}");
        q.within = Some((Level::Projet, "TOUTATICE".into()));
        assert!(lookup_sql(&q, day("2024-09-01"), day("2024-09-01"), Dialect::ClickHouse, &|t| t.to_owned())
            .unwrap()
            .contains("in_projet = 'TOUTATICE'"));
        q.level = Level::Academie;
        assert!(lookup_sql(&q, day("2024-09-01"), day("2024-09-01"), Dialect::ClickHouse, &|t| t.to_owned()).is_err());
        q.within = Some((Level::Ecole, "0350122T".into()));
        assert!(
            lookup_sql(&q, day("2024-09-01"), day("2024-09-01"), Dialect::ClickHouse, &|t| t.to_owned()).is_err(),
            "a coarser level within a finer one"
        );
    }

    #[test]
    fn periods_are_frozen_a_month_at_most_at_a_time() {
        let days: BTreeSet<NaiveDate> = (0..70).map(|i| day("2024-09-01") + chrono::Days::new(i)).collect();
        let daily = chunks(Period::Day, &days);
        assert_eq!(daily.iter().map(|c| c.2.len()).collect::<Vec<_>>(), vec![31, 31, 8]);
        assert_eq!((daily[0].0, daily[0].1), (day("2024-09-01"), day("2024-10-01")));
        let years: BTreeSet<NaiveDate> = [day("2023-09-01"), day("2024-09-01")].into();
        assert_eq!(chunks(Period::SchoolYear, &years).len(), 2);
        assert_eq!(chunks(Period::SchoolYear, &years)[0].1, day("2024-08-31"));
    }

    #[test]
    fn freeze_statements_group_by_what_they_keep() {
        let set = CellSet { by_service: true, ..CellSet::plain(Level::Departement, Some(Breakdown::Profil)) };
        let sql = freeze_sql(&set, Period::Week, day("2024-09-02"), day("2024-09-08"), Dialect::ClickHouse, &|t| t.to_owned());
        assert!(
            sql.contains("FROM usages")
                && sql.contains("dim = 'service'")
                && sql.contains("GROUP BY week, departement, profil, value, visitor")
                && sql.contains("count(*) AS visitors"),
            "{sql}"
        );
        let sql = freeze_sql(&CellSet::plain(Level::Nation, None), Period::Day, day("2024-09-02"), day("2024-09-02"), Dialect::DataFusion, &|t| {
            t.to_owned()
        });
        assert!(sql.contains("FROM visits") && sql.contains("GROUP BY day, visitor") && sql.contains("'FR' AS code"), "{sql}");
    }
}
