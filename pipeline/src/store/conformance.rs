//! The behaviour every [`RollupStore`] must show, as one async function each implementation's
//! tests call with a freshly opened, empty store ([`run`]). Figures are checked against values
//! worked out by hand.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate};
use collector::log::position;
use tagging_plan::{Plan, Referential};

use super::RollupStore;
use crate::facts::hits_batch;
use crate::hit_row::{HitRow, Placer};
use crate::model::{Breakdown, Level, Period};
use crate::query::{IndicatorQuery, IndicatorRow};
use crate::sessionize::{Method, Sessionizer};

/// Two schools of Ille-et-Vilaine (académie de Rennes) from the shipped referential.
const SCHOOL_A: &str = "0350122T";
const SCHOOL_B: &str = "0350165P";
/// A circonscription office of Ille-et-Vilaine: in the annuaire, without a sector.
const SCHOOL_WITHOUT_SECTOR: &str = "0350741R";

fn hit(placer: &mut Placer<'_>, offset: u64, at: &str, visitor: u8, uai: &str, service: &str, profil: &str) -> HitRow {
    let place = placer.place(offset, uai).expect("shipped UAI");
    let time_ms = DateTime::parse_from_rfc3339(at).expect("test time").timestamp_millis();
    HitRow {
        offset,
        time_ms,
        day: crate::hit_row::local_day(time_ms, place.tz),
        visitor: [visitor; 16],
        plateforme: "ENT-BZH".into(),
        projet: "TOUTATICE".into(),
        exploitant: "REGION-BRETAGNE".into(),
        uai: uai.into(),
        place: Arc::clone(&place),
        profil: profil.into(),
        service: service.into(),
        outil: (service == "RESSOURCE_DOCUMENTAIRE").then(|| "PEARLTREES".into()),
        page_view: true,
        click: false,
        device: "ordinateur".into(),
        os: "windows".into(),
        browser: "chrome".into(),
        plan_version: "2024.1".into(),
    }
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("test day")
}

/// Stages `rows` and computes every dirty day whole, with `method`.
pub(crate) async fn stage_and_compute<S: RollupStore + ?Sized>(store: &S, rows: &[HitRow], method: Method) {
    let mut days: Vec<NaiveDate> = rows.iter().map(|r| r.day).collect();
    days.dedup();
    for d in days {
        let of_day: Vec<HitRow> = rows.iter().filter(|r| r.day == d).cloned().collect();
        store.stage_hits(d, hits_batch(&of_day)).await.expect("stage");
    }
    let sessionizer = Sessionizer { method, ..Sessionizer::default() };
    for d in store.dirty_days().await.expect("dirty days") {
        let facts = sessionizer.run(store.day_hits(d).await.expect("day hits")).await.expect("sessionize");
        store.replace_day(d, facts).await.expect("replace");
    }
}

fn only(rows: &[IndicatorRow]) -> &IndicatorRow {
    assert_eq!(rows.len(), 1, "one cell expected: {rows:#?}");
    &rows[0]
}

/// How many times [`run`] calls `open`.
pub const STORES_NEEDED: usize = 14;

/// Runs the suite on a store from `open` (called once per scenario, [`STORES_NEEDED`] times in
/// all, each time for a new, empty store).
pub async fn run<S: RollupStore, F: Fn() -> S>(open: F) {
    for method in [Method::SortScan, Method::Sql] {
        figures_match_the_hand_count(&open(), method).await;
    }
    staging_is_guarded_and_dirty_days_tracked(&open()).await;
    a_day_computed_in_slices_has_the_same_figures(&open()).await;
    steps::a_day_computed_in_steps_has_the_figures_of_one_step(&open(), &open()).await;
    steps::a_day_in_three_partitions_computed_in_steps_has_the_figures_of_one_step(&open(), &open()).await;
    empty_store_answers_nothing(&open()).await;
    tagging_facts_count_hits_and_refusals(&open()).await;
    erased_visitors_leave_no_fact(&open()).await;
    retired_facts_leave_the_figures_of_closed_periods(&open()).await;
    materialized_periods_follow_their_facts(&open()).await;
    year_to_date_rows_follow_their_facts(&open()).await;
}

/// A refused SmartTag event of ENT-BZH received `minute` minutes after 2026-11-23T08:00+01:00.
fn refusal(minute: i64, reasons: &[(&str, &str, &str)], properties: &[(&str, &str)]) -> collector::record::DeadLetter {
    collector::record::DeadLetter {
        received_ms: 1_795_417_200_000 + minute * 60_000,
        format: tagging_plan::WireFormat::Xiti,
        site: Some("1".into()),
        plateforme: Some("ENT-BZH".into()),
        event: "page.display".into(),
        reasons: reasons
            .iter()
            .map(|(code, field, value)| collector::record::StoredReason {
                code: (*code).into(),
                field: (*field).into(),
                value: Some((*value).into()),
                message: String::new(),
            })
            .collect(),
        properties: properties.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    }
}

async fn tagging_facts_count_hits_and_refusals<S: RollupStore>(store: &S) {
    let plan = Plan::shipped();
    let mut placer = Placer::new(&plan, Referential::shipped());
    let rows = vec![
        hit(&mut placer, 1, "2026-11-23T08:00:00+01:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        hit(&mut placer, 2, "2026-11-23T08:05:00+01:00", 2, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        hit(&mut placer, 3, "2026-11-23T08:10:00+01:00", 2, SCHOOL_B, "RESSOURCE_DOCUMENTAIRE", "ELEVE"),
    ];
    stage_and_compute(store, &rows, Method::SortScan).await;
    let tagging = store.tagging(day("2026-11-23"), day("2026-11-29"), None).await.unwrap();
    let counts: Vec<(String, Option<String>, u64, u64)> =
        tagging.iter().map(|t| (t.service.clone(), t.outil.clone(), t.hits, t.page_views)).collect();
    assert_eq!(counts, vec![("MESSAGERIE".into(), None, 2, 2), ("RESSOURCE_DOCUMENTAIRE".into(), Some("PEARLTREES".into()), 1, 1)]);
    assert!(tagging.iter().all(|t| t.plateforme == "ENT-BZH" && t.plan_version == "2024.1"));
    let (from, to) = (day("2026-11-23"), day("2026-11-29"));
    assert_eq!(store.tagging(from, to, Some("ENT-BZH")).await.unwrap(), tagging, "one platform's rows");
    assert!(store.tagging(from, to, Some("NEO-AUTRE")).await.unwrap().is_empty());

    let letter = |minute: i64, reasons: &[(&str, &str, &str)]| refusal(minute, reasons, &[("uai", "0350000A")]);
    let d = day("2026-11-23");
    let batch = crate::tagging::rejects_batch(&[
        (0, letter(0, &[("unknown_uai", "uai", "0350000A")])),
        (1, letter(1, &[("unknown_uai", "uai", "0350000A"), ("unknown_service", "service", "MESAGERIE")])),
    ]);
    store.stage_rejects(d, batch.clone()).await.unwrap();
    store.stage_rejects(d, batch).await.unwrap(); // staged again after a crash: no change
    assert_eq!(store.rejects_staged_through(d, 0).await.unwrap(), Some(1));
    store.stage_rejects(d, crate::tagging::rejects_batch(&[(2, letter(2, &[("tiers_without_outil", "outil", "")]))])).await.unwrap();
    let counts: Vec<(String, String, u64)> = store.reject_counts(d, d).await.unwrap().into_iter().map(|c| (c.code, c.field, c.events)).collect();
    assert_eq!(
        counts,
        vec![
            ("tiers_without_outil".into(), "outil".into(), 1),
            ("unknown_service".into(), "service".into(), 1),
            ("unknown_uai".into(), "uai".into(), 2)
        ]
    );
    assert_eq!(store.rejected_events(d, d).await.unwrap(), vec![refused_day(d, 3, 0)], "events, not reasons");
    let sample = store.reject_sample("ENT-BZH", d, d, 2).await.unwrap();
    assert_eq!(sample.len(), 2, "{sample:#?}");
    assert_eq!(sample[0].reasons[0].0, "tiers_without_outil", "newest first");
    assert_eq!(sample[1].reasons.len(), 2, "one sample per event, with all its reasons");
    assert!(store.reject_sample("OTHER", d, d, 10).await.unwrap().is_empty());
    refusals_recovered_by_a_replay(store, d).await;
}

fn refused_day(day: NaiveDate, events: u64, recovered: u64) -> crate::tagging::RefusedDay {
    crate::tagging::RefusedDay { day, plateforme: Some("ENT-BZH".to_owned()), events, recovered }
}

/// After the refusals at positions 0 to 2 of day `d`: a replay's `Done` mark two days later
/// recovered the event at position 1 (two reasons); its rows say so on `d`'s counts, and are no
/// refusals of their own day.
async fn refusals_recovered_by_a_replay<S: RollupStore>(store: &S, d: NaiveDate) {
    use crate::tagging::{dead_letter_batch, Recovery};
    let later = d + chrono::Days::new(2);
    let written_ms = chrono::NaiveDateTime::from(later).and_utc().timestamp_millis() + 12 * 3_600_000;
    let done = Recovery { position: 10, written_ms, letters: vec![1, 7] };
    assert_eq!(done.day(), later);
    let batch = dead_letter_batch(&[], &[done]);
    store.stage_rejects(later, batch.clone()).await.unwrap();
    store.stage_rejects(later, batch).await.unwrap(); // staged again after a crash: no change
    assert_eq!(store.rejects_staged_through(later, 0).await.unwrap(), Some(10));
    let counts: Vec<(String, u64, u64)> = store.reject_counts(d, d).await.unwrap().into_iter().map(|c| (c.code, c.events, c.recovered)).collect();
    assert_eq!(
        counts,
        vec![("tiers_without_outil".into(), 1, 0), ("unknown_service".into(), 1, 1), ("unknown_uai".into(), 2, 1)],
        "the recovery of a later day is counted on the day of the refusal"
    );
    assert_eq!(store.rejected_events(d, d).await.unwrap(), vec![refused_day(d, 3, 1)], "events, not reasons");
    assert_eq!(store.rejected_events(d, later).await.unwrap(), vec![refused_day(d, 3, 1)], "recovery rows are no refusals");
    assert!(store.reject_counts(later, later).await.unwrap().is_empty());
    assert_eq!(store.reject_sample("ENT-BZH", d, later, 10).await.unwrap().len(), 3);
}

async fn erased_visitors_leave_no_fact<S: RollupStore>(store: &S) {
    use datafusion::arrow::array::AsArray;

    // Holds: an erased visitor is held out of staging until the hold's last day, inclusive.
    assert!(store.held_visitors(day("2026-11-23")).await.unwrap().is_empty());
    store.hold_erased(&super::DoomedVisitors::new(&[[9; 16]]), day("2099-12-24")).await.unwrap();
    let held = store.held_visitors(day("2026-11-23")).await.unwrap();
    assert!(held.holds(&[9; 16]) && !held.holds(&[8; 16]), "{held:?}");
    assert!(store.held_visitors(day("2099-12-24")).await.unwrap().holds(&[9; 16]));
    assert!(store.held_visitors(day("2099-12-25")).await.unwrap().is_empty(), "a hold ends");

    let plan = Plan::shipped();
    let mut placer = Placer::new(&plan, Referential::shipped());
    let rows = vec![
        hit(&mut placer, 1, "2026-11-23T08:00:00+01:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        hit(&mut placer, 2, "2026-11-23T08:05:00+01:00", 1, SCHOOL_A, "CAHIER_TEXTES", "ELEVE"),
        hit(&mut placer, 3, "2026-11-23T08:10:00+01:00", 2, SCHOOL_A, "MESSAGERIE", "ENSEIGNANT"),
        hit(&mut placer, 4, "2026-11-23T08:20:00+01:00", 2, SCHOOL_B, "MESSAGERIE", "ENSEIGNANT"),
        hit(&mut placer, 5, "2026-11-24T09:00:00+01:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
    ];
    stage_and_compute(store, &rows, Method::SortScan).await;
    let letter = |at: String| refusal(0, &[("unknown_service", "service", "JEUX")], &[("at", &at), ("service", "JEUX")]);
    let d = day("2026-11-23");
    let refusals = crate::tagging::rejects_batch(&[
        (0, letter(format!("pseudonym:{}", hex::encode([1u8; 16])))),
        (1, letter(format!("pseudonym:{}", hex::encode([3u8; 16])))),
    ]);
    store.stage_rejects(d, refusals).await.unwrap();

    let erased = store.erase_visitors(&super::DoomedVisitors::new(&[[1; 16]])).await.unwrap();
    assert_eq!(erased.days.iter().copied().collect::<Vec<_>>(), [d, day("2026-11-24")], "{erased:?}");
    assert_eq!((erased.hits, erased.visits, erased.rejects), (3, 2, 1), "{erased:?}");
    assert!(erased.usages >= 2, "{erased:?}");

    let week = only(&store.query(&IndicatorQuery::new(Level::Academie, Period::Week, d, d)).await.unwrap()).clone();
    assert_eq!((week.visits, week.visitors, week.page_views), (1, 1, 2), "only the other visitor is left");
    let by_service = store.query(&IndicatorQuery::new(Level::Nation, Period::Week, d, d).by(Breakdown::Service)).await.unwrap();
    assert_eq!(by_service.iter().map(|r| r.visitors).sum::<u64>(), 1, "{by_service:#?}");
    for batch in store.day_hits(d).await.unwrap().iter().chain(&store.day_hits(day("2026-11-24")).await.unwrap()) {
        let visitors = batch.column(batch.schema().index_of("visitor").unwrap()).as_binary::<i32>();
        assert!(visitors.iter().all(|v| v != Some(&[1u8; 16][..])), "no staged hit of the erased visitor is left");
    }
    assert_eq!(store.rejected_events(d, d).await.unwrap(), vec![refused_day(d, 1, 0)]);
    let sample = store.reject_sample("ENT-BZH", d, d, 10).await.unwrap();
    assert!(sample.iter().all(|s| !s.properties.contains(&hex::encode([1u8; 16]))), "{sample:#?}");
    assert_eq!(store.erase_visitors(&super::DoomedVisitors::new(&[[1; 16]])).await.unwrap(), super::ErasedFacts::default(), "nothing left to erase");
}

async fn empty_store_answers_nothing<S: RollupStore>(store: &S) {
    assert!(store.days().await.unwrap().is_empty());
    assert_eq!(store.staged_through(day("2026-11-23"), 0).await.unwrap(), None);
    let q = IndicatorQuery::new(Level::Nation, Period::Week, day("2026-11-23"), day("2026-11-29"));
    assert!(store.query(&q).await.unwrap().is_empty());
}

async fn staging_is_guarded_and_dirty_days_tracked<S: RollupStore>(store: &S) {
    let plan = Plan::shipped();
    let mut placer = Placer::new(&plan, Referential::shipped());
    let d = day("2026-11-23");
    let rows = [hit(&mut placer, 10, "2026-11-23T08:00:00+01:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE")];
    store.stage_hits(d, hits_batch(&rows)).await.unwrap();
    assert_eq!(store.staged_through(d, 0).await.unwrap(), Some(10));
    assert_eq!(store.dirty_days().await.unwrap(), vec![d]);
    let again = store.stage_hits(d, hits_batch(&rows)).await;
    assert!(again.is_err(), "staging an offset twice must be refused");
    let later = [hit(&mut placer, 11, "2026-11-23T08:01:00+01:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE")];
    store.stage_hits(d, hits_batch(&later)).await.unwrap();
    let staged: usize = store.day_hits(d).await.unwrap().iter().map(datafusion::arrow::array::RecordBatch::num_rows).sum();
    assert_eq!(staged, 2);
    let facts = Sessionizer::default().run(store.day_hits(d).await.unwrap()).await.unwrap();
    store.replace_day(d, facts).await.unwrap();
    assert!(store.dirty_days().await.unwrap().is_empty());

    // Another log partition's positions are staged beside these, never against them.
    let other = [hit(&mut placer, position(1, 3), "2026-11-23T08:02:00+01:00", 2, SCHOOL_A, "MESSAGERIE", "ELEVE")];
    store.stage_hits(d, hits_batch(&other)).await.unwrap();
    assert_eq!(store.staged_through(d, 1).await.unwrap(), Some(position(1, 3)));
    assert_eq!(store.staged_through(d, 0).await.unwrap(), Some(11), "partition 0 untouched");
    let spanning = [
        hit(&mut placer, 12, "2026-11-23T08:03:00+01:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        hit(&mut placer, position(1, 4), "2026-11-23T08:03:00+01:00", 2, SCHOOL_A, "MESSAGERIE", "ELEVE"),
    ];
    assert!(store.stage_hits(d, hits_batch(&spanning)).await.is_err(), "a batch spanning partitions is refused");
    // A hit staged while the day was being computed (by another instance) keeps it dirty. The
    // part computed is the one holding partition 0 (in a store dividing by partition, only
    // partition 1's part is dirty now).
    let parts = store.dirty_parts().await.unwrap();
    assert!(parts.iter().all(|p| p.day == d) && !parts.is_empty(), "{parts:?}");
    let part =
        if parts.iter().any(|p| p.partition.is_none()) { crate::day_part::DayPart::whole(d) } else { crate::day_part::DayPart::of_partition(d, 0) };
    let mut writer = store.begin_day(part, "").await.unwrap();
    let read = store.day_hits_in(part, crate::visitor_slices::VisitorSlices::ALL).await.unwrap();
    store.stage_hits(d, hits_batch(&spanning[..1])).await.unwrap();
    writer.append(Sessionizer::default().run(read).await.unwrap()).await.unwrap();
    writer.commit().await.unwrap();
    assert_eq!(store.dirty_days().await.unwrap(), vec![d], "facts computed before the last staging leave the day dirty");
    assert!(store.dirty_parts().await.unwrap().contains(&part), "the part computed too");
    for part in store.dirty_parts().await.unwrap() {
        crate::engine::compute_day(store, Sessionizer::default(), part, u64::MAX).await.unwrap();
    }
    assert!(store.dirty_days().await.unwrap().is_empty());
    let nation = IndicatorQuery::new(Level::Nation, Period::Day, d, d);
    assert_eq!(store.query(&nation).await.unwrap()[0].page_views, 4, "every staged hit counted once");

    store.mark_dirty(&[d]).await.unwrap();
    assert_eq!(store.dirty_days().await.unwrap(), vec![d]);
    assert_eq!(store.days().await.unwrap(), vec![d]);
}

/// A day computed a range of visitor slices at a time (bounded memory) has exactly the figures
/// of the day computed at once, at every level and breakdown.
async fn a_day_computed_in_slices_has_the_same_figures<S: RollupStore>(store: &S) {
    let rows = one_day_of_hits(4_000);
    let d = rows[0].day;
    for chunk in rows.chunks(700) {
        store.stage_hits(d, hits_batch(chunk)).await.unwrap();
    }
    assert_eq!(store.day_hit_count(d.into()).await.unwrap(), rows.len() as u64);
    // Pseudonyms are uniform: four ranges of slices hold about a quarter of the hits each.
    for slices in crate::visitor_slices::VisitorSlices::plan(rows.len() as u64, (rows.len() as u64).div_ceil(4)) {
        let n: usize = store.day_hits_in(d.into(), slices).await.unwrap().iter().map(datafusion::arrow::array::RecordBatch::num_rows).sum();
        assert!(n > rows.len() / 8 && n < rows.len() / 2, "{slices:?} holds {n} of {} hits", rows.len());
    }
    let queries: Vec<IndicatorQuery> = [Level::Nation, Level::Academie, Level::Ecole]
        .into_iter()
        .flat_map(|level| {
            [None, Some(Breakdown::Profil), Some(Breakdown::Service)].into_iter().map(move |breakdown| {
                let mut q = IndicatorQuery::new(level, Period::Day, d, d);
                q.breakdown = breakdown;
                q
            })
        })
        .collect();
    let mut whole = Vec::new();
    crate::engine::compute_day(store, Sessionizer::default(), d, u64::MAX).await.unwrap();
    for q in &queries {
        whole.push(store.query(q).await.unwrap());
    }
    assert_eq!(whole[0][0].page_views + whole[0][0].clicks, rows.len() as u64, "every hit counted once");
    // 4,000 hits at most 300 at a time: 16 ranges of 16 slices.
    crate::engine::compute_day(store, Sessionizer::default(), d, 300).await.unwrap();
    assert!(store.dirty_days().await.unwrap().is_empty());
    for (q, expected) in queries.iter().zip(&whole) {
        assert_eq!(&store.query(q).await.unwrap(), expected, "{q:?}");
    }
    let tagged: u64 = store.tagging(d, d, None).await.unwrap().iter().map(|t| t.hits).sum();
    assert_eq!(tagged, rows.len() as u64, "tagging counts add up over the ranges");
}

async fn figures_match_the_hand_count<S: RollupStore>(store: &S, method: Method) {
    let plan = Plan::shipped();
    let mut placer = Placer::new(&plan, Referential::shipped());
    let rows = vec![
        // Visitor 1, Monday: one visit in school A (08:00-08:20, gaps ≤ 30 min), MESSAGERIE then
        // RESSOURCE_DOCUMENTAIRE; then a second visit at 09:00 (gap 40 min) from school B.
        hit(&mut placer, 1, "2026-11-23T08:00:00+01:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        hit(&mut placer, 2, "2026-11-23T08:20:00+01:00", 1, SCHOOL_A, "RESSOURCE_DOCUMENTAIRE", "ELEVE"),
        hit(&mut placer, 3, "2026-11-23T09:00:00+01:00", 1, SCHOOL_B, "MESSAGERIE", "ELEVE"),
        // Visitor 2, Monday, a one-hit visit at school A, as a teacher.
        hit(&mut placer, 4, "2026-11-23T10:00:00+01:00", 2, SCHOOL_A, "CAHIER_TEXTES", "ENSEIGNANT"),
        // Visitor 1 again on Tuesday (same week): 23:50 → 00:10 is cut at midnight.
        hit(&mut placer, 5, "2026-11-24T23:50:00+01:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        hit(&mut placer, 6, "2026-11-25T00:10:00+01:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
    ];
    stage_and_compute(store, &rows, method).await;
    // Re-computing a day with the same hits changes nothing.
    store.mark_dirty(&[day("2026-11-23")]).await.unwrap();
    stage_and_compute(store, &[], method).await;

    let week = IndicatorQuery::new(Level::Academie, Period::Week, day("2026-11-23"), day("2026-11-23"));
    let cell = only(&store.query(&week).await.unwrap()).clone();
    assert_eq!((cell.code.as_str(), cell.start), ("Rennes", day("2026-11-23")), "{method:?}");
    assert_eq!((cell.visits, cell.visitors, cell.page_views, cell.clicks), (5, 2, 6, 0), "{method:?}: {cell:?}");
    assert_eq!(cell.duration_s, 20 * 60, "{method:?}: only the first visit lasts (20 min)");

    let days = IndicatorQuery::new(Level::Ecole, Period::Day, day("2026-11-23"), day("2026-11-25"));
    let cells: Vec<(String, String, u64, u64)> =
        store.query(&days).await.unwrap().into_iter().map(|r| (r.code, r.start.to_string(), r.visits, r.visitors)).collect();
    assert_eq!(
        cells,
        vec![
            (SCHOOL_A.into(), "2026-11-23".into(), 2, 2),
            (SCHOOL_A.into(), "2026-11-24".into(), 1, 1),
            (SCHOOL_A.into(), "2026-11-25".into(), 1, 1),
            (SCHOOL_B.into(), "2026-11-23".into(), 1, 1),
        ],
        "{method:?}"
    );

    let services = store.query(&week.clone().by(Breakdown::Service)).await.unwrap();
    let service = |code: &str| services.iter().find(|r| r.breakdown.as_ref().is_some_and(|(_, v)| v == code)).cloned();
    let messagerie = service("MESSAGERIE").expect("MESSAGERIE used");
    assert_eq!((messagerie.visits, messagerie.visitors, messagerie.page_views), (4, 1, 4), "{method:?}");
    let ressources = service("RESSOURCE_DOCUMENTAIRE").expect("RESSOURCE_DOCUMENTAIRE used");
    assert_eq!((ressources.visits, ressources.page_views, ressources.duration_s), (1, 1, 20 * 60), "{method:?}");
    let outils = store.query(&week.clone().by(Breakdown::Outil)).await.unwrap();
    assert_eq!(outils.iter().map(|r| (r.breakdown.clone().unwrap().1, r.visits)).collect::<Vec<_>>(), vec![("PEARLTREES".into(), 1)]);

    let profiles = store.query(&week.clone().by(Breakdown::Profil)).await.unwrap();
    let profiles: Vec<(String, u64, u64)> = profiles.into_iter().map(|r| (r.breakdown.unwrap().1, r.visits, r.visitors)).collect();
    assert_eq!(profiles, vec![("ELEVE".into(), 4, 1), ("ENSEIGNANT".into(), 1, 1)], "{method:?}");

    let mut teachers = week.clone();
    teachers.profil = Some("ENSEIGNANT".into());
    assert_eq!(only(&store.query(&teachers).await.unwrap()).visits, 1);
    let mut elsewhere = week.clone();
    elsewhere.within = Some((Level::Academie, "Créteil".into()));
    assert!(store.query(&elsewhere).await.unwrap().is_empty());
    let circonscriptions = IndicatorQuery::new(Level::Circonscription, Period::Week, day("2026-11-23"), day("2026-11-23"));
    for row in store.query(&circonscriptions).await.unwrap() {
        assert!(!row.code.is_empty(), "{row:?}");
    }

    // Without unique visitors: the same cells and figures, visitors left at 0.
    for query in [days, week.clone().by(Breakdown::Service), circonscriptions] {
        let expected: Vec<IndicatorRow> = store.query(&query).await.unwrap().into_iter().map(|r| IndicatorRow { visitors: 0, ..r }).collect();
        assert_eq!(store.query(&query.without_unique_visitors()).await.unwrap(), expected, "{method:?}");
    }
}

/// Synthetic hits of one day (the first day of a small synthetic traffic), numbered from 0.
pub fn one_day_of_hits(hits: usize) -> Vec<HitRow> {
    let plan = Plan::shipped();
    let spec = crate::synthetic::TrafficSpec { hits, days: 1, first_day: day("2026-11-23"), late_percent: 0, ..Default::default() };
    let mut placer = Placer::new(&plan, Referential::shipped());
    let rows: Vec<HitRow> = crate::synthetic::stored_hits(&spec, &plan, Referential::shipped())
        .into_iter()
        .enumerate()
        .map(|(i, h)| placer.row(i as u64, h).expect("shipped schools"))
        .collect();
    let first = rows[0].day;
    rows.into_iter().filter(|r| r.day == first).collect()
}

/// Stages `rows` (one day), computes the day, then replaces it `replacements` times while it is
/// queried: every query sees the old facts or the new ones (the same figures), never a mix or
/// an error.
pub async fn replaced_day_reads_old_or_new<S: RollupStore>(store: Arc<S>, rows: &[HitRow], replacements: usize) {
    let d = rows[0].day;
    store.stage_hits(d, hits_batch(rows)).await.expect("stage");
    let facts = Sessionizer::default().run(store.day_hits(d).await.expect("day hits")).await.expect("sessionize");
    store.replace_day(d, facts.clone()).await.expect("replace");
    let writer = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            for _ in 0..replacements {
                store.replace_day(d, facts.clone()).await.expect("replace");
            }
        })
    };
    let query = IndicatorQuery::new(Level::Nation, Period::Day, d, d);
    let expected = store.query(&query).await.expect("query");
    assert_eq!(expected.len(), 1);
    while !writer.is_finished() {
        assert_eq!(store.query(&query).await.expect("query"), expected, "a reader sees the old day or the new one");
        store.tagging(d, d, None).await.expect("tagging");
    }
    writer.await.expect("writer");
}

#[path = "conformance_kept_cells.rs"]
mod kept_cells;
#[path = "conformance_steps.rs"]
pub mod steps;
use kept_cells::{materialized_periods_follow_their_facts, retired_facts_leave_the_figures_of_closed_periods, year_to_date_rows_follow_their_facts};
