//! Indicator queries: [`IndicatorQuery`] asks for the indicators of every cell of one level and
//! period over a date range, optionally broken down and filtered; [`IndicatorRow`] is one cell.
//! [`indicator_sql`] writes the SQL that every SQL store (DataFusion over Parquet, ClickHouse)
//! runs over its visit and usage facts.

use chrono::NaiveDate;
use serde::Serialize;

use crate::model::{Breakdown, Level, Period, NATION_CODE};

/// Which cells to compute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndicatorQuery {
    /// One row per territory or ENT entity of this level.
    pub level: Level,
    /// One row per period of this kind.
    pub period: Period,
    /// First day asked; widened to the start of its period.
    pub from: NaiveDate,
    /// Last day asked; widened to the end of its period.
    pub to: NaiveDate,
    /// And per value of this dimension.
    pub breakdown: Option<Breakdown>,
    /// Only within this territory or ENT entity (e.g. the départements of one académie).
    pub within: Option<(Level, String)>,
    /// Only visits whose first hit has this profile.
    pub profil: Option<String>,
    /// Only visits that used this service (page views and clicks are then those of the service).
    pub service: Option<String>,
    /// Only visits to schools of this kind (`ecole`, `college`, `lycee`, `autre`, `inconnu`:
    /// [`Breakdown::school_values`]).
    pub degre: Option<String>,
    /// Only visits to schools of this sector (`public`, `prive`, `inconnu`).
    pub secteur: Option<String>,
    /// Whether unique visitors are counted (the costly part of a query over many cells and a
    /// long period). Without, each row's `visitors` is 0: for views that need only the visits,
    /// such as which schools were active each week.
    pub unique_visitors: bool,
}

impl IndicatorQuery {
    /// A query for every cell of `level` × `period` over `from..=to`.
    pub fn new(level: Level, period: Period, from: NaiveDate, to: NaiveDate) -> Self {
        IndicatorQuery {
            level,
            period,
            from,
            to,
            breakdown: None,
            within: None,
            profil: None,
            service: None,
            degre: None,
            secteur: None,
            unique_visitors: true,
        }
    }

    /// The same without counting unique visitors (see [`Self::unique_visitors`]).
    #[must_use]
    pub fn without_unique_visitors(mut self) -> Self {
        self.unique_visitors = false;
        self
    }

    /// The same, broken down by a dimension.
    #[must_use]
    pub fn by(mut self, breakdown: Breakdown) -> Self {
        self.breakdown = Some(breakdown);
        self
    }

    /// The school filters asked, each with its dimension: `degre`, then `secteur`.
    pub fn school_filters(&self) -> impl Iterator<Item = (Breakdown, &str)> {
        [(Breakdown::Degre, &self.degre), (Breakdown::Secteur, &self.secteur)].into_iter().filter_map(|(b, v)| v.as_deref().map(|v| (b, v)))
    }

    /// The days whose facts the query reads: `from` and `to` widened to whole periods.
    pub fn days(&self) -> (NaiveDate, NaiveDate) {
        (self.period.start_of(self.from), self.period.end_of(self.to))
    }
}

/// The indicators of one cell.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct IndicatorRow {
    /// Level of the cell.
    pub level: Level,
    /// Code of the territory or entity (UAI, département code, académie name, …).
    pub code: String,
    /// Kind of period.
    pub period: Period,
    /// First day of the period.
    pub start: NaiveDate,
    /// Breakdown dimension and value, when asked.
    pub breakdown: Option<(Breakdown, String)>,
    /// Visits.
    pub visits: u64,
    /// Exact unique visitors (0 when the query asked without them:
    /// [`IndicatorQuery::unique_visitors`]).
    pub visitors: u64,
    /// Page views.
    pub page_views: u64,
    /// Clicks.
    pub clicks: u64,
    /// Total visit duration, seconds.
    pub duration_s: u64,
}

/// A string as an SQL literal.
pub fn sql_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Why a query cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidQuery(pub String);

/// The SQL dialects [`indicator_sql_in`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Apache DataFusion (the embedded store).
    DataFusion,
    /// ClickHouse, from 18.16 on (the distributed store).
    ClickHouse,
}

impl Dialect {
    /// A date literal.
    pub(crate) fn date(self, day: NaiveDate) -> String {
        match self {
            Dialect::DataFusion => format!("DATE '{day}'"),
            Dialect::ClickHouse => format!("toDate('{day}')"),
        }
    }

    /// A NULL of the string type.
    pub(crate) fn null_string(self) -> &'static str {
        match self {
            Dialect::DataFusion => "CAST(NULL AS VARCHAR)",
            Dialect::ClickHouse => "CAST(NULL AS Nullable(String))",
        }
    }
}

/// The SQL computing a query over tables `visits` and `usages` (layouts of [`crate::facts`]).
/// Columns: `code`, `start`, `cell_value` (the breakdown value, NULL without breakdown; named
/// apart from every fact column, as ClickHouse lets an output alias shadow a column in `WHERE`), `visits`, `visitors`,
/// `page_views`, `clicks`, `duration_s`.
pub fn indicator_sql(query: &IndicatorQuery) -> Result<String, InvalidQuery> {
    indicator_sql_in(query, Dialect::DataFusion, &|table: &str| table.to_owned())
}

/// [`indicator_sql`] in a dialect, reading each fact table (`visits` or `usages`) from what
/// `table` gives for its name (a qualified name, or a subquery with its alias).
pub fn indicator_sql_in(query: &IndicatorQuery, dialect: Dialect, table: &dyn Fn(&str) -> String) -> Result<String, InvalidQuery> {
    indicator_sql_counting(query, dialect, table, "count(*)")
}

/// [`indicator_sql_in`] over tables whose rows may stand for several visits: `visits` is the
/// aggregate counting them (`count(*)` over facts, a sum over the year-to-date rows of
/// [`crate::year_to_date`]).
pub fn indicator_sql_counting(
    query: &IndicatorQuery,
    dialect: Dialect,
    table: &dyn Fn(&str) -> String,
    visits: &str,
) -> Result<String, InvalidQuery> {
    let usage_dim = match (query.breakdown, &query.service) {
        (Some(b), Some(_)) if b.is_usage() => {
            return Err(InvalidQuery(format!("a service filter cannot be combined with the `{b}` breakdown")));
        }
        (Some(b), _) if b.is_usage() => Some((b.column(), None)),
        (_, Some(service)) => Some(("service", Some(service.as_str()))),
        _ => None,
    };
    let table_name = if usage_dim.is_some() { "usages" } else { "visits" };
    let (first, last) = query.days();
    let mut conditions = vec![format!("day >= {}", dialect.date(first)), format!("day <= {}", dialect.date(last))];
    let code = match query.level.column() {
        Some(column) => {
            conditions.push(format!("{column} IS NOT NULL"));
            column.to_owned()
        }
        None => sql_literal(NATION_CODE),
    };
    if let Some((dim, value)) = usage_dim {
        conditions.push(format!("dim = {}", sql_literal(dim)));
        if let Some(value) = value {
            conditions.push(format!("value = {}", sql_literal(value)));
        }
    }
    if let Some((level, value)) = &query.within {
        if let Some(column) = level.column() {
            conditions.push(format!("{column} = {}", sql_literal(value)));
        }
    }
    if let Some(profil) = &query.profil {
        conditions.push(format!("profil = {}", sql_literal(profil)));
    }
    for (dimension, value) in query.school_filters() {
        let value = dimension.school_value(value).map_err(|e| InvalidQuery(e.to_string()))?;
        conditions.push(format!("{} = {}", dimension.value_sql(), sql_literal(value)));
    }
    let value = match query.breakdown {
        Some(b) if b.is_usage() => "value".to_owned(),
        Some(b) => b.value_sql(),
        None => dialect.null_string().to_owned(),
    };
    let period = query.period.column();
    let (source, conditions) = (table(table_name), conditions.join(" AND "));
    // Many cells (schools, circonscriptions): distinct visitors in two steps (per cell ×
    // visitor, then per cell), a hash aggregation instead of a set of visitors per cell: 4 to 8
    // times faster there (école × school year × service 34.6 -> 4.6 s on the bench's year).
    // Few cells: a set per cell is faster (nation × week 0.22 s against 0.27 s). Inner names
    // are apart from the fact columns (ClickHouse lets an alias shadow a column).
    if query.unique_visitors && matches!(query.level, Level::Ecole | Level::Circonscription) {
        return Ok(format!(
            "SELECT code, start, cell_value, sum(n_visits) AS visits, count(*) AS visitors,
                    sum(n_page_views) AS page_views, sum(n_clicks) AS clicks, sum(n_duration_s) AS duration_s
             FROM (
                 SELECT {code} AS code, {period} AS start, {value} AS cell_value, visitor, {visits} AS n_visits,
                        sum(page_views) AS n_page_views, sum(clicks) AS n_clicks, sum(duration_s) AS n_duration_s
                 FROM {source} WHERE {conditions}
                 GROUP BY {code}, {period}, {value}, visitor
             ) AS per_visitor
             GROUP BY code, start, cell_value"
        ));
    }
    let visitors = if query.unique_visitors { "count(DISTINCT visitor)" } else { "0" };
    Ok(format!(
        "SELECT {code} AS code, {period} AS start, {value} AS cell_value, {visits} AS visits, {visitors} AS visitors,
                sum(page_views) AS page_views, sum(clicks) AS clicks, sum(duration_s) AS duration_s
         FROM {source} WHERE {conditions}
         GROUP BY {code}, {period}, {value}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> IndicatorQuery {
        IndicatorQuery::new(Level::Academie, Period::Week, "2026-11-18".parse().unwrap(), "2026-11-18".parse().unwrap())
    }

    #[test]
    fn days_are_widened_to_whole_periods() {
        let (first, last) = query().days();
        assert_eq!((first.to_string(), last.to_string()), ("2026-11-16".into(), "2026-11-22".into()));
    }

    #[test]
    fn usage_breakdowns_and_service_filters_read_the_usages() {
        let sql = indicator_sql(&query().by(Breakdown::Service)).unwrap();
        assert!(sql.contains("FROM usages") && sql.contains("dim = 'service'"), "{sql}");
        let mut filtered = query().by(Breakdown::Profil);
        filtered.service = Some("MESSAGERIE".into());
        let sql = indicator_sql(&filtered).unwrap();
        assert!(sql.contains("FROM usages") && sql.contains("value = 'MESSAGERIE'") && sql.contains("profil AS cell_value"), "{sql}");
        filtered.breakdown = Some(Breakdown::Outil);
        assert!(indicator_sql(&filtered).is_err());
    }

    #[test]
    fn without_unique_visitors_no_visitor_is_read() {
        for level in [Level::Ecole, Level::Academie] {
            let mut q = query().without_unique_visitors();
            q.level = level;
            let sql = indicator_sql(&q).unwrap();
            assert!(!sql.contains("visitor,") && !sql.contains("DISTINCT") && sql.contains("0 AS visitors"), "{sql}");
        }
    }

    #[test]
    fn school_filters_and_breakdowns_read_unknown_schools_as_inconnu() {
        let mut q = query().by(Breakdown::Secteur);
        q.degre = Some("college".into());
        let sql = indicator_sql(&q).unwrap();
        assert!(sql.contains("coalesce(degre, 'inconnu') = 'college'") && sql.contains("coalesce(secteur, 'inconnu') AS cell_value"), "{sql}");
        q.secteur = Some("privé".into());
        assert!(indicator_sql(&q).unwrap_err().to_string().contains("public, prive, inconnu"));
    }

    #[test]
    fn values_are_quoted_as_literals() {
        let mut q = query();
        q.within = Some((Level::Academie, "Aix-Marseille' OR '1'='1".into()));
        let sql = indicator_sql(&q).unwrap();
        assert!(sql.contains("academie = 'Aix-Marseille'' OR ''1''=''1'"), "{sql}");
    }
}
