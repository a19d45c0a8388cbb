//! Conformance scenarios of the cells kept for closed periods: frozen before their facts are
//! retired ([`crate::fact_retention`]) and materialized while the facts are there
//! ([`crate::materialize`]), and the open school year's rows to date ([`crate::year_to_date`]).

use super::{day, hit, only, stage_and_compute, RollupStore, SCHOOL_A, SCHOOL_B, SCHOOL_WITHOUT_SECTOR};
use crate::hit_row::Placer;
use crate::model::{Breakdown, Level, Period};
use crate::query::IndicatorQuery;
use crate::sessionize::Method;
use tagging_plan::{Plan, Referential};

/// The queries a retirement must answer alike before and after: every level and period, every
/// breakdown, each filter alone and both together, territories within coarser ones and within
/// the project.
fn queries_kept_after_retirement(academie: &str, region: &str) -> Vec<IndicatorQuery> {
    let (from, to) = (day("2024-06-01"), day("2025-03-31"));
    let mut queries = Vec::new();
    for level in Level::ALL {
        for period in Period::ALL {
            queries.push(IndicatorQuery::new(level, period, from, to));
        }
        for breakdown in Breakdown::ALL {
            queries.push(IndicatorQuery::new(level, Period::Month, from, to).by(breakdown));
        }
    }
    let filtered = |profil: Option<&str>, service: Option<&str>, breakdown: Option<Breakdown>| {
        let mut q = IndicatorQuery::new(Level::Ecole, Period::Week, from, to);
        q.profil = profil.map(str::to_owned);
        q.service = service.map(str::to_owned);
        q.breakdown = breakdown;
        q
    };
    queries.extend([
        filtered(Some("ELEVE"), None, None),
        filtered(None, Some("MESSAGERIE"), None),
        filtered(Some("ENSEIGNANT"), Some("MESSAGERIE"), None),
        filtered(Some("ELEVE"), None, Some(Breakdown::Service)),
        filtered(Some("ELEVE"), None, Some(Breakdown::Profil)),
        filtered(None, Some("MESSAGERIE"), Some(Breakdown::Os)),
        filtered(Some("ELEVE"), Some("MESSAGERIE"), Some(Breakdown::Profil)),
    ]);
    for (level, within) in [
        (Level::Ecole, (Level::Academie, academie.to_owned())),
        (Level::Departement, (Level::Region, region.to_owned())),
        (Level::Ecole, (Level::Projet, "TOUTATICE".to_owned())),
        (Level::Plateforme, (Level::Projet, "TOUTATICE".to_owned())),
        (Level::Projet, (Level::Projet, "TOUTATICE".to_owned())),
        (Level::Academie, (Level::Nation, String::new())),
    ] {
        for period in [Period::Week, Period::SchoolYear] {
            let mut q = IndicatorQuery::new(level, period, from, to);
            q.within = Some(within.clone());
            queries.push(q.clone());
            if within.0 == Level::Projet {
                queries.push(q.by(Breakdown::Service));
            }
        }
    }
    queries
}

pub(super) async fn retired_facts_leave_the_figures_of_closed_periods<S: RollupStore>(store: &S) {
    let plan = Plan::shipped();
    let mut placer = Placer::new(&plan, Referential::shipped());
    let mut rows = Vec::new();
    let mut offset = 0;
    // Days of two school years; the visitor comes back on several days and schools, so that a
    // week's, a month's or a year's visitors are not the sum of the days'.
    for (at, visitor, uai, service, profil) in [
        ("2024-06-10T08:00:00+02:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        ("2024-06-10T08:10:00+02:00", 2, SCHOOL_B, "CAHIER_TEXTES", "ENSEIGNANT"),
        ("2024-06-28T17:00:00+02:00", 1, SCHOOL_A, "RESSOURCE_DOCUMENTAIRE", "ELEVE"),
        ("2024-09-02T08:00:00+02:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        ("2024-09-02T08:04:00+02:00", 1, SCHOOL_A, "CAHIER_TEXTES", "ELEVE"),
        ("2024-09-04T10:00:00+02:00", 3, SCHOOL_B, "MESSAGERIE", "ENSEIGNANT"),
        ("2024-09-04T10:30:00+02:00", 1, SCHOOL_B, "MESSAGERIE", "ELEVE"),
        ("2024-09-30T09:00:00+02:00", 2, SCHOOL_A, "MESSAGERIE", "ENSEIGNANT"),
        ("2024-10-01T09:00:00+02:00", 2, SCHOOL_A, "MESSAGERIE", "ENSEIGNANT"),
        ("2024-10-01T21:00:00+02:00", 4, SCHOOL_B, "RESSOURCE_DOCUMENTAIRE", "PARENT"),
        ("2024-10-15T12:00:00+02:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        ("2025-03-10T08:00:00+01:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        ("2025-03-10T08:30:00+01:00", 5, SCHOOL_B, "CAHIER_TEXTES", "ELEVE"),
    ] {
        offset += 1;
        rows.push(hit(&mut placer, offset, at, visitor, uai, service, profil));
    }
    stage_and_compute(store, &rows, Method::SortScan).await;
    let academie = only(&store.query(&IndicatorQuery::new(Level::Academie, Period::SchoolYear, day("2024-09-01"), day("2024-09-01"))).await.unwrap())
        .code
        .clone();
    let region =
        only(&store.query(&IndicatorQuery::new(Level::Region, Period::SchoolYear, day("2024-09-01"), day("2024-09-01"))).await.unwrap()).code.clone();
    let queries = queries_kept_after_retirement(&academie, &region);
    let mut before = Vec::new();
    for q in &queries {
        let rows = store.query(q).await.unwrap_or_else(|e| panic!("{q:?}: {e}"));
        assert!(!rows.is_empty(), "every query has cells: {q:?}");
        before.push(rows);
    }
    let year =
        only(&store.query(&IndicatorQuery::new(Level::Nation, Period::SchoolYear, day("2024-09-01"), day("2024-09-01"))).await.unwrap()).clone();
    assert_eq!(year.visitors, 5, "{year:?}");

    // On 2025-11-20, with 13 months, days up to 2024-10-19 go.
    let today = day("2025-11-20");
    let planned = crate::fact_retention::plan(store, today, 13).await.unwrap();
    assert_eq!(store.days().await.unwrap().len(), 8, "a plan changes nothing");
    let pass = crate::fact_retention::apply(store, today, 13).await.unwrap();
    assert_eq!((pass.through, &pass.days, &pass.frozen), (planned.through, &planned.days, &planned.frozen));
    assert_eq!(pass.through, day("2024-10-19"));
    assert_eq!(pass.days.len(), 7, "{pass:?}");
    let frozen = |kind: &str| pass.frozen.get(kind).map(Vec::len).unwrap_or_default();
    assert_eq!((frozen("day"), frozen("week"), frozen("month"), frozen("school_year")), (7, 5, 3, 2), "{pass:?}");
    assert!(pass.cells > 0);
    assert_eq!(store.facts_retired_through().await.unwrap(), Some(day("2024-10-19")));
    assert_eq!(store.days().await.unwrap(), vec![day("2025-03-10")], "the retired days' hits are gone");
    assert!(store.day_hits(day("2024-09-02")).await.unwrap().iter().all(|b| b.num_rows() == 0));
    assert!(store.dirty_days().await.unwrap().is_empty());
    assert!(!store.tagging(day("2024-06-10"), day("2024-06-10"), None).await.unwrap().is_empty(), "tagging counts hold no visitor and stay");

    for (q, expected) in queries.iter().zip(&before) {
        assert_eq!(&store.query(q).await.unwrap_or_else(|e| panic!("{q:?}: {e}")), expected, "{q:?}");
    }
    // The school year 2024-25 is frozen whole (its live day of March included) and the raw
    // facts of that day still answer the day, week and month.
    let march = only(&store.query(&IndicatorQuery::new(Level::Nation, Period::Month, day("2025-03-01"), day("2025-03-01"))).await.unwrap()).clone();
    assert_eq!((march.visits, march.visitors), (2, 2));

    // A combination no frozen cell holds is refused over a frozen period, answered over a live one.
    let mut unkept = IndicatorQuery::new(Level::Nation, Period::Month, day("2024-09-01"), day("2024-09-30")).by(Breakdown::Os);
    unkept.profil = Some("ELEVE".into());
    unkept.service = Some("MESSAGERIE".into());
    assert!(matches!(store.query(&unkept).await, Err(crate::PipelineError::Query(m)) if m.contains("not kept")));
    unkept.from = day("2025-03-01");
    unkept.to = day("2025-03-31");
    assert_eq!(store.query(&unkept).await.unwrap().len(), 1);

    // A late hit on a live day of the frozen school year: the day, week and month (live) count
    // it; the school year, frozen with retired days, stays as it was (its cells are final).
    let late = hit(&mut placer, 100, "2025-03-11T08:00:00+01:00", 6, SCHOOL_A, "MESSAGERIE", "ELEVE");
    stage_and_compute(store, &[late], Method::SortScan).await;
    let march = only(&store.query(&IndicatorQuery::new(Level::Nation, Period::Month, day("2025-03-01"), day("2025-03-01"))).await.unwrap()).clone();
    assert_eq!((march.visits, march.visitors), (3, 3));
    assert!(store.frozen_starts(Period::SchoolYear).await.unwrap().contains(&day("2024-09-01")), "a year with retired days is never thawed");
    let year_after =
        only(&store.query(&IndicatorQuery::new(Level::Nation, Period::SchoolYear, day("2024-09-01"), day("2024-09-01"))).await.unwrap()).clone();
    assert_eq!(year_after, year);

    // A second pass finds nothing more to do and changes no figure.
    let again = crate::fact_retention::apply(store, today, 13).await.unwrap();
    assert!(again.days.is_empty() && again.frozen.is_empty(), "{again:?}");
    for (q, expected) in queries.iter().zip(&before).filter(|(q, _)| q.period == Period::SchoolYear) {
        assert_eq!(&store.query(q).await.unwrap(), expected, "{q:?}");
    }
}

/// Cells kept for closed periods while their facts are there ([`crate::materialize`]) give the
/// figures the facts give, are dropped when a late hit or an erasure changes one of their days,
/// and are kept again once the days are computed.
pub(super) async fn materialized_periods_follow_their_facts<S: RollupStore>(store: &S) {
    use crate::materialize;

    let plan = Plan::shipped();
    let mut placer = Placer::new(&plan, Referential::shipped());
    let mut rows = Vec::new();
    for (offset, (at, visitor, uai, service, profil)) in [
        ("2024-09-02T08:00:00+02:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        ("2024-09-02T08:05:00+02:00", 1, SCHOOL_A, "CAHIER_TEXTES", "ELEVE"),
        ("2024-09-03T10:00:00+02:00", 2, SCHOOL_B, "MESSAGERIE", "ENSEIGNANT"),
        ("2024-09-05T10:30:00+02:00", 1, SCHOOL_B, "MESSAGERIE", "ELEVE"),
        ("2024-09-30T09:00:00+02:00", 2, SCHOOL_A, "MESSAGERIE", "ENSEIGNANT"),
        ("2024-10-01T21:00:00+02:00", 3, SCHOOL_B, "RESSOURCE_DOCUMENTAIRE", "PARENT"),
    ]
    .into_iter()
    .enumerate()
    {
        rows.push(hit(&mut placer, offset as u64 + 1, at, visitor, uai, service, profil));
    }
    stage_and_compute(store, &rows, Method::SortScan).await;
    let (from, to) = (day("2024-09-01"), day("2024-10-31"));
    let mut queries = Vec::new();
    for level in [Level::Nation, Level::Academie, Level::Ecole, Level::Projet] {
        for period in [Period::Week, Period::Month, Period::SchoolYear] {
            queries.push(IndicatorQuery::new(level, period, from, to));
            queries.push(IndicatorQuery::new(level, period, from, to).by(Breakdown::Service));
            queries.push(IndicatorQuery::new(level, period, from, to).by(Breakdown::Profil).without_unique_visitors());
        }
    }
    let figures = |queries: Vec<IndicatorQuery>| async move {
        let mut all = Vec::new();
        for q in &queries {
            all.push(store.query(q).await.unwrap_or_else(|e| panic!("{q:?}: {e}")));
        }
        all
    };
    let from_facts = figures(queries.clone()).await;
    let week = |start: &str| IndicatorQuery::new(Level::Nation, Period::Week, day(start), day(start));
    assert_eq!(only(&store.query(&week("2024-09-02")).await.unwrap()).visitors, 2);

    // On 2024-10-20: the two weeks and September have ended; October and the school year have not.
    let today = day("2024-10-20");
    let pending = materialize::pending(store, today).await.unwrap();
    assert_eq!(
        pending,
        vec![(Period::Week, day("2024-09-30")), (Period::Month, day("2024-09-01")), (Period::Week, day("2024-09-02"))],
        "newest first"
    );
    let done = materialize::materialize_all(store, today, |_| {}).await.unwrap();
    assert_eq!(done.len(), 4);
    assert_eq!((done[0].start, done[0].through), (day("2024-09-01"), Some(day("2024-10-01"))), "the year to date first");
    assert!(done.iter().all(|m| m.cells > 0), "{done:?}");
    assert!(materialize::pending(store, today).await.unwrap().is_empty());
    assert_eq!(store.frozen_starts(Period::Week).await.unwrap(), [day("2024-09-02"), day("2024-09-30")].into());
    assert_eq!(figures(queries.clone()).await, from_facts, "the kept cells give the facts' figures");

    // A combination the cells do not keep is read from the facts, not refused.
    let mut unkept = IndicatorQuery::new(Level::Nation, Period::Week, day("2024-09-02"), day("2024-09-02")).by(Breakdown::Os);
    unkept.profil = Some("ELEVE".into());
    unkept.service = Some("MESSAGERIE".into());
    assert_eq!(only(&store.query(&unkept).await.unwrap()).visitors, 1);

    // A late hit on 2024-09-04: once its day is computed, its week and month are dropped (not
    // the other week), the figures count it, and materializing again keeps them again.
    let late = hit(&mut placer, 50, "2024-09-04T11:00:00+02:00", 4, SCHOOL_A, "MESSAGERIE", "PARENT");
    stage_and_compute(store, &[late], Method::SortScan).await;
    assert_eq!(store.frozen_starts(Period::Week).await.unwrap(), [day("2024-09-30")].into(), "only the late hit's week is dropped");
    assert!(store.frozen_starts(Period::Month).await.unwrap().is_empty());
    assert_eq!(only(&store.query(&week("2024-09-02")).await.unwrap()).visitors, 3);
    let with_late = figures(queries.clone()).await;
    assert_ne!(with_late, from_facts);
    let again = materialize::materialize_all(store, today, |_| {}).await.unwrap();
    assert_eq!(
        again.iter().map(|m| (m.period, m.start, m.through)).collect::<Vec<_>>(),
        [
            (Period::SchoolYear, day("2024-09-01"), Some(day("2024-10-01"))),
            (Period::Month, day("2024-09-01"), None),
            (Period::Week, day("2024-09-02"), None)
        ]
    );
    assert_eq!(figures(queries.clone()).await, with_late);

    // An erasure drops the cells of the periods of the erased visitor's days.
    store.erase_visitors(&crate::store::DoomedVisitors::new(&[[4; 16]])).await.unwrap();
    assert_eq!(store.frozen_starts(Period::Week).await.unwrap(), [day("2024-09-30")].into());
    assert_eq!(only(&store.query(&week("2024-09-02")).await.unwrap()).visitors, 2, "the erased visitor is not counted");
    materialize::materialize_all(store, today, |_| {}).await.unwrap();
    assert_eq!(figures(queries).await, from_facts, "back to the figures before the late hit");
}

/// The open school year's rows to date give the facts' figures for every school-year query,
/// with the days after them read from the facts; a change to one of their days drops them, a
/// later day does not; erasure and retirement drop them.
pub(super) async fn year_to_date_rows_follow_their_facts<S: RollupStore>(store: &S) {
    use crate::materialize;

    let plan = Plan::shipped();
    let mut placer = Placer::new(&plan, Referential::shipped());
    let mut offset = 0;
    let mut hits = |entries: &[(&str, u8, &str, &str, &str)]| {
        entries
            .iter()
            .map(|(at, visitor, uai, service, profil)| {
                offset += 1;
                hit(&mut placer, offset, at, *visitor, uai, service, profil)
            })
            .collect::<Vec<_>>()
    };
    let first = hits(&[
        ("2024-09-02T08:00:00+02:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        ("2024-09-02T08:05:00+02:00", 1, SCHOOL_A, "CAHIER_TEXTES", "ELEVE"),
        ("2024-09-02T17:00:00+02:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        ("2024-09-03T10:00:00+02:00", 2, SCHOOL_B, "MESSAGERIE", "ENSEIGNANT"),
        ("2024-09-30T09:00:00+02:00", 2, SCHOOL_A, "MESSAGERIE", "ENSEIGNANT"),
        // A circonscription office: no sector in the annuaire (its `secteur` is NULL).
        ("2024-10-01T21:00:00+02:00", 3, SCHOOL_WITHOUT_SECTOR, "RESSOURCE_DOCUMENTAIRE", "PARENT"),
        // After the settled days: read from the facts, visitor 1 again (counted once).
        ("2024-10-04T08:00:00+02:00", 1, SCHOOL_A, "MESSAGERIE", "ELEVE"),
        ("2024-10-04T09:00:00+02:00", 4, SCHOOL_B, "CAHIER_TEXTES", "ELEVE"),
    ]);
    stage_and_compute(store, &first, Method::SortScan).await;
    let (from, to) = (day("2024-09-01"), day("2025-08-31"));
    let mut queries = Vec::new();
    for level in [Level::Nation, Level::Academie, Level::Departement, Level::Ecole, Level::Projet] {
        queries.push(IndicatorQuery::new(level, Period::SchoolYear, from, to));
        for breakdown in [Breakdown::Service, Breakdown::Profil, Breakdown::Appareil, Breakdown::Outil, Breakdown::Degre, Breakdown::Secteur] {
            queries.push(IndicatorQuery::new(level, Period::SchoolYear, from, to).by(breakdown));
        }
        let mut unknown_sector = IndicatorQuery::new(level, Period::SchoolYear, from, to).by(Breakdown::Degre);
        unknown_sector.secteur = Some("inconnu".into());
        queries.push(unknown_sector);
        let mut pupils = IndicatorQuery::new(level, Period::SchoolYear, from, to).by(Breakdown::Service);
        pupils.profil = Some("ELEVE".into());
        queries.push(pupils);
        let mut mail = IndicatorQuery::new(level, Period::SchoolYear, from, to).by(Breakdown::Profil);
        mail.service = Some("MESSAGERIE".into());
        queries.push(mail.clone());
        queries.push(mail.without_unique_visitors());
    }
    let mut within = IndicatorQuery::new(Level::Ecole, Period::SchoolYear, from, to);
    within.within = Some((Level::Departement, "035".into()));
    queries.push(within);
    let figures = |queries: Vec<IndicatorQuery>| async move {
        let mut all = Vec::new();
        for q in &queries {
            all.push(store.query(q).await.unwrap_or_else(|e| panic!("{q:?}: {e}")));
        }
        all
    };
    let year = IndicatorQuery::new(Level::Nation, Period::SchoolYear, from, to);
    let from_facts = figures(queries.clone()).await;
    assert_eq!(only(&from_facts[0]).visitors, 4);

    // On 2024-10-05 the year is open; its days through 2024-10-01 are settled (2024-10-04 is not).
    let today = day("2024-10-05");
    assert_eq!(store.year_to_date().await.unwrap(), None);
    assert_eq!(materialize::year_to_date_pending(store, today).await.unwrap(), Some((day("2024-09-01"), day("2024-10-01"))));
    let done = materialize::materialize_next(store, today).await.unwrap().unwrap();
    assert_eq!((done.period, done.start, done.through), (Period::SchoolYear, day("2024-09-01"), Some(day("2024-10-01"))));
    assert!(done.cells >= 3, "{done:?}");
    assert_eq!(store.year_to_date().await.unwrap(), Some((day("2024-09-01"), day("2024-10-01"))));
    assert_eq!(materialize::year_to_date_pending(store, today).await.unwrap(), None, "kept once a day");
    assert_eq!(figures(queries.clone()).await, from_facts, "the rows to date give the facts' figures");

    // A hit on a later day leaves the rows standing and is counted from the facts.
    stage_and_compute(store, &hits(&[("2024-10-04T10:00:00+02:00", 5, SCHOOL_A, "MESSAGERIE", "PARENT")]), Method::SortScan).await;
    assert_eq!(store.year_to_date().await.unwrap(), Some((day("2024-09-01"), day("2024-10-01"))));
    let with_later = only(&store.query(&year).await.unwrap()).clone();
    assert_eq!((with_later.visitors, with_later.visits), (5, 8));
    store.year_to_date().await.unwrap().expect("still standing");

    // A late hit on a kept day drops them; the figures count it; keeping again gives the same.
    stage_and_compute(store, &hits(&[("2024-09-03T11:00:00+02:00", 6, SCHOOL_B, "MESSAGERIE", "ENSEIGNANT")]), Method::SortScan).await;
    assert_eq!(store.year_to_date().await.unwrap(), None, "a change to a kept day drops the rows");
    let with_late = figures(queries.clone()).await;
    assert_eq!(only(&with_late[0]).visitors, 6);
    materialize::materialize_next(store, today).await.unwrap().unwrap();
    assert_eq!(figures(queries.clone()).await, with_late);

    // An erasure of a kept visitor drops them; its visitor is no longer counted.
    store.erase_visitors(&crate::store::DoomedVisitors::new(&[[2; 16]])).await.unwrap();
    assert_eq!(store.year_to_date().await.unwrap(), None);
    let erased = figures(queries.clone()).await;
    assert_eq!(only(&erased[0]).visitors, 5);
    // (A store may mark the erased days for recomputation first.)
    stage_and_compute(store, &[], Method::SortScan).await;
    materialize::materialize_next(store, today).await.unwrap().unwrap();
    assert_eq!(figures(queries.clone()).await, erased);

    // Two days on, the standing rows are extended with the days since (2024-10-04's facts,
    // two visitors of which one kept already): the same figures, now all from the rows.
    assert_eq!(store.year_to_date().await.unwrap(), Some((day("2024-09-01"), day("2024-10-01"))));
    let extended = store.keep_year_to_date(day("2024-09-01"), day("2024-10-04")).await.unwrap();
    assert!(extended > 0);
    assert_eq!(store.year_to_date().await.unwrap(), Some((day("2024-09-01"), day("2024-10-04"))));
    assert_eq!(figures(queries.clone()).await, erased, "extended rows give the facts' figures");
    // A late hit on a day the extension added drops them too; keeping again counts it.
    stage_and_compute(store, &hits(&[("2024-10-04T11:00:00+02:00", 7, SCHOOL_B, "CAHIER_TEXTES", "ELEVE")]), Method::SortScan).await;
    assert_eq!(store.year_to_date().await.unwrap(), None);
    let with_seventh = figures(queries.clone()).await;
    assert_eq!(only(&with_seventh[0]).visitors, only(&erased[0]).visitors + 1);
    store.keep_year_to_date(day("2024-09-01"), day("2024-10-04")).await.unwrap();
    assert_eq!(figures(queries.clone()).await, with_seventh);

    // A day of the year retired: the rows go with the facts.
    store.retire_facts(day("2024-09-02")).await.unwrap();
    assert_eq!(store.year_to_date().await.unwrap(), None);
    assert_eq!(materialize::year_to_date_pending(store, today).await.unwrap(), None, "a year holding a retired day is not kept to date");
}
