//! The brute-force reference: every indicator computed in plain Rust over the hits, with no
//! Arrow, no DataFusion and none of the pipeline's code but [`HitRow`] itself. Tests compare
//! every figure the pipeline publishes with it; it is written for obviousness, not speed.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Datelike, NaiveDate};

use crate::hit_row::HitRow;
use crate::model::{Breakdown, Level, Period, NATION_CODE, UNKNOWN_SCHOOL_VALUE};
use crate::query::{IndicatorQuery, IndicatorRow};

/// One visit, as the reference sees it.
#[derive(Debug, Clone)]
pub struct RefVisit<'a> {
    /// Its first hit.
    pub first: &'a HitRow,
    /// Seconds from first to last hit (truncated).
    pub duration_s: u64,
    /// Page views.
    pub page_views: u64,
    /// Clicks.
    pub clicks: u64,
    /// Per service used: (page views, clicks) of its hits.
    pub services: BTreeMap<&'a str, (u64, u64)>,
    /// Per tool used: (page views, clicks) of its hits.
    pub tools: BTreeMap<&'a str, (u64, u64)>,
}

/// Cuts the hits into visits: same platform, visitor and local day, gaps of at most `timeout_ms`.
pub fn visits(hits: &[HitRow], timeout_ms: i64) -> Vec<RefVisit<'_>> {
    let mut by_visitor: HashMap<(NaiveDate, &str, [u8; 16]), Vec<&HitRow>> = HashMap::new();
    for hit in hits {
        by_visitor.entry((hit.day, hit.plateforme.as_str(), hit.visitor)).or_default().push(hit);
    }
    let mut out = Vec::new();
    for mut group in by_visitor.into_values() {
        group.sort_by_key(|h| (h.time_ms, h.offset));
        let mut start = 0;
        for i in 1..=group.len() {
            if i == group.len() || group[i].time_ms - group[i - 1].time_ms > timeout_ms {
                out.push(visit_of(&group[start..i]));
                start = i;
            }
        }
    }
    out
}

fn visit_of<'a>(hits: &[&'a HitRow]) -> RefVisit<'a> {
    let mut visit = RefVisit {
        first: hits[0],
        duration_s: u64::try_from((hits[hits.len() - 1].time_ms - hits[0].time_ms) / 1000).expect("sorted"),
        page_views: 0,
        clicks: 0,
        services: BTreeMap::new(),
        tools: BTreeMap::new(),
    };
    for hit in hits {
        let (pv, cl) = (u64::from(hit.page_view), u64::from(hit.click));
        visit.page_views += pv;
        visit.clicks += cl;
        let service = visit.services.entry(hit.service.as_str()).or_default();
        service.0 += pv;
        service.1 += cl;
        if let Some(tool) = &hit.outil {
            let tool = visit.tools.entry(tool.as_str()).or_default();
            tool.0 += pv;
            tool.1 += cl;
        }
    }
    visit
}

/// The first day of the period holding `day`, computed without [`Period::start_of`].
fn period_start(period: Period, day: NaiveDate) -> NaiveDate {
    match period {
        Period::Day => day,
        Period::Week => day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday())),
        Period::Month => NaiveDate::from_ymd_opt(day.year(), day.month(), 1).expect("day 1"),
        Period::SchoolYear => NaiveDate::from_ymd_opt(if day.month() < 9 { day.year() - 1 } else { day.year() }, 9, 1).expect("1 Sept"),
    }
}

fn code(level: Level, hit: &HitRow) -> Option<String> {
    Some(match level {
        Level::Ecole => hit.uai.clone(),
        Level::Circonscription => hit.place.circonscription.clone()?,
        Level::Departement => hit.place.departement.clone(),
        Level::Academie => hit.place.academie.clone(),
        Level::Region => hit.place.region.clone(),
        Level::Nation => NATION_CODE.to_owned(),
        Level::Projet => hit.projet.clone(),
        Level::Plateforme => hit.plateforme.clone(),
        Level::Exploitant => hit.exploitant.clone(),
    })
}

#[derive(Default)]
struct Cell<'a> {
    visits: u64,
    visitors: HashSet<&'a [u8; 16]>,
    page_views: u64,
    clicks: u64,
    duration_s: u64,
}

/// The value of a school dimension (kind or sector) for a hit's school.
fn school_value(dimension: Breakdown, hit: &HitRow) -> &'static str {
    let value = match dimension {
        Breakdown::Degre => hit.place.degre,
        _ => hit.place.secteur,
    };
    value.unwrap_or(UNKNOWN_SCHOOL_VALUE)
}

/// Answers a query over visits the way the stores must (filters `within`, `profil`, `service`,
/// `degre` and `secteur` included).
pub fn answer(visits: &[RefVisit<'_>], query: &IndicatorQuery) -> Vec<IndicatorRow> {
    let first_day = period_start(query.period, query.from);
    let mut cells: BTreeMap<(String, NaiveDate, Option<String>), Cell<'_>> = BTreeMap::new();
    for visit in visits {
        let hit = visit.first;
        let start = period_start(query.period, hit.day);
        if hit.day < first_day || start > period_start(query.period, query.to) {
            continue;
        }
        let Some(code) = code(query.level, hit) else { continue };
        if let Some((level, value)) = &query.within {
            if self::code(*level, hit).as_deref() != Some(value.as_str()) {
                continue;
            }
        }
        if query.profil.as_ref().is_some_and(|p| *p != hit.profil) {
            continue;
        }
        if query.school_filters().any(|(dimension, value)| school_value(dimension, hit) != value) {
            continue;
        }
        // The value of a first-hit breakdown (profile, device…), if that is the one asked.
        let first_hit_value = match query.breakdown {
            Some(Breakdown::Profil) => Some(hit.profil.clone()),
            Some(Breakdown::Appareil) => Some(hit.device.clone()),
            Some(Breakdown::Os) => Some(hit.os.clone()),
            Some(Breakdown::Navigateur) => Some(hit.browser.clone()),
            Some(b) if b.is_school() => Some(school_value(b, hit).to_owned()),
            _ => None,
        };
        // (breakdown value, page views, clicks) this visit contributes.
        let parts: Vec<(Option<String>, u64, u64)> = match (query.breakdown, &query.service) {
            (_, Some(service)) => visit.services.get(service.as_str()).map(|&(pv, cl)| (first_hit_value, pv, cl)).into_iter().collect(),
            (Some(Breakdown::Service), None) => visit.services.iter().map(|(s, &(pv, cl))| (Some((*s).to_owned()), pv, cl)).collect(),
            (Some(Breakdown::Outil), None) => visit.tools.iter().map(|(t, &(pv, cl))| (Some((*t).to_owned()), pv, cl)).collect(),
            (_, None) => vec![(first_hit_value, visit.page_views, visit.clicks)],
        };
        for (value, pv, cl) in parts {
            let cell = cells.entry((code.clone(), start, value)).or_default();
            cell.visits += 1;
            cell.visitors.insert(&hit.visitor);
            cell.page_views += pv;
            cell.clicks += cl;
            cell.duration_s += visit.duration_s;
        }
    }
    let mut rows: Vec<IndicatorRow> = cells
        .into_iter()
        .map(|((code, start, value), cell)| IndicatorRow {
            level: query.level,
            code,
            period: query.period,
            start,
            breakdown: query.breakdown.map(|b| (b, value.unwrap_or_default())),
            visits: cell.visits,
            visitors: if query.unique_visitors { cell.visitors.len() as u64 } else { 0 },
            page_views: cell.page_views,
            clicks: cell.clicks,
            duration_s: cell.duration_s,
        })
        .collect();
    rows.sort();
    rows
}
