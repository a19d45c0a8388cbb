//! The store against real ClickHouse servers: the `RollupStore` conformance suite, and a day
//! replaced while it is read, on every server given: the one at `DNMA_CLICKHOUSE_URL` (`.ci/run`
//! starts Debian's `clickhouse-server` 18.16 with `scripts/clickhouse.sh`: rows unchecked, plain
//! `RowBinary`) and, when set, the one at `DNMA_CHDB_URL` (the current ClickHouse engine, 26.x,
//! behind a test HTTP adapter: rows checked against the schema). Without a server the tests say
//! so and pass, except under `CI=true`, where `DNMA_CLICKHOUSE_URL` is required, and
//! `DNMA_CHDB_URL` too when `DNMA_CHDB_REQUIRED=1`. A failure names the server.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use super::rows::{TaggingFactRow, UsageRow, VisitRow};
use super::*;
use crate::store::conformance;

static DATABASES: AtomicU32 = AtomicU32::new(0);

/// A server to test against: what it is (its variable and URL) and its URL.
struct Server {
    name: String,
    url: String,
}

/// The servers given in the environment (see the module header).
fn servers() -> Vec<Server> {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let mut servers = Vec::new();
    for (variable, required, how) in [
        ("DNMA_CLICKHOUSE_URL", ci, "scripts/clickhouse.sh DIR PORT starts ClickHouse 18.16"),
        ("DNMA_CHDB_URL", ci && std::env::var("DNMA_CHDB_REQUIRED").as_deref() == Ok("1"), "the chDB test adapter serves ClickHouse 26.x"),
    ] {
        match std::env::var(variable) {
            Ok(url) if !url.is_empty() => servers.push(Server { name: format!("{variable}={url}"), url }),
            _ => {
                assert!(!required, "CI must run the ClickHouse tests on this server: {variable} is not set");
                eprintln!("not tested on {variable}: set it to a ClickHouse server ({how})");
            }
        }
    }
    servers
}

/// Runs `test` on every server, one after the other; a failure names the server.
async fn on_every_server<F, T>(test: F)
where
    F: Fn(String) -> T,
    T: Future<Output = ()> + Send + 'static,
{
    for server in servers() {
        if let Err(e) = tokio::spawn(test(server.url)).await {
            let panic = e.into_panic();
            let message = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()));
            panic!("on {}: {}", server.name, message.unwrap_or_default());
        }
    }
}

fn config(url: &str, database: String) -> ClickHouseConfig {
    ClickHouseConfig { url: url.to_owned(), database, user: "default".into(), password: None }
}

/// A migrated store in a database of its own, dropped by the test.
async fn fresh_store(url: &str) -> ClickHouseRollupStore {
    let n = DATABASES.fetch_add(1, Ordering::Relaxed);
    let store = ClickHouseRollupStore::new(config(url, format!("dnma_test_{}_{n}", std::process::id()))).unwrap();
    store.drop_database().await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 0);
    assert_eq!(store.migrate().await.unwrap(), schema::VERSION);
    assert_eq!(store.migrate().await.unwrap(), schema::VERSION, "migrating again changes nothing");
    assert_eq!(store.schema_version().await.unwrap(), schema::VERSION);
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_rollup_store_conformance_suite() {
    on_every_server(|url| async move {
        let mut stores = Vec::new();
        for _ in 0..conformance::STORES_NEEDED {
            stores.push(fresh_store(&url).await);
        }
        let databases: Vec<String> = stores.iter().map(|s| s.config.database.clone()).collect();
        let stores = Mutex::new(stores);
        conformance::run(|| stores.lock().unwrap().pop().expect("enough stores prepared")).await;
        for database in databases {
            ClickHouseRollupStore::new(config(&url, database)).unwrap().drop_database().await.unwrap();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_replaced_while_it_is_read_shows_old_or_new_facts_and_old_generations_go() {
    on_every_server(|url| async move {
        let store = Arc::new(fresh_store(&url).await.with_day_hits_slice(700));
        let rows = conformance::one_day_of_hits(2_000);
        conformance::replaced_day_reads_old_or_new(Arc::clone(&store), &rows, 8).await;
        let slices = store.day_hits(rows[0].day).await.unwrap();
        assert!(slices.len() >= 2, "read back in slices of 700");
        let offsets: Vec<u64> = slices.iter().flat_map(|b| b.column(0).as_primitive::<UInt64Type>().values().to_vec()).collect();
        let expected: Vec<u64> = rows.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, expected, "every staged hit once, in offset order");
        assert_eq!(slices.iter().map(RecordBatch::num_rows).sum::<usize>(), rows.len());
        assert_eq!(slices[0], crate::facts::hits_batch(&rows[..700]), "hits read back as they were staged");
        let generations = store.sql(&format!("SELECT count(DISTINCT generation) FROM {}", store.table("visits"))).await.unwrap();
        let generations: u64 = store.fetch_one(generations).await.unwrap();
        assert!(generations <= 2, "at most the current and the previous generation are kept: {generations}");
        store.drop_database().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_of_schema_6_gain_the_school_columns_and_keep_their_rows() {
    on_every_server(|url| async move {
        let store = fresh_store(&url).await;
        let rows = conformance::one_day_of_hits(300);
        let day = rows[0].day;
        // Version 6 had no kind of school or sector: stage and compute a day in that layout.
        for table in ["hits", "visits", "usages", "ytd_visits", "ytd_usages"] {
            let drop = format!("ALTER TABLE {} DROP COLUMN degre, DROP COLUMN secteur", store.table(table));
            store.execute(store.sql(&drop).await.unwrap()).await.unwrap();
        }
        let old =
            |t: &str| format!("SELECT count() FROM system.columns WHERE database = '{}' AND table = '{t}' AND name = 'degre'", store.config.database);
        let missing: u64 = store.fetch_one(store.sql(&old("visits")).await.unwrap()).await.unwrap();
        assert_eq!(missing, 0);
        assert_eq!(store.migrate().await.unwrap(), schema::VERSION);
        for table in ["hits", "visits", "usages", "ytd_visits", "ytd_usages"] {
            let present: u64 = store.fetch_one(store.sql(&old(table)).await.unwrap()).await.unwrap();
            assert_eq!(present, 1, "{table} has degre again");
        }
        // Staged and computed in the new layout, read by kind of school.
        store.stage_hits(day, crate::facts::hits_batch(&rows)).await.unwrap();
        let facts = crate::sessionize::Sessionizer::default().run(store.day_hits(day).await.unwrap()).await.unwrap();
        store.replace_day(day, facts).await.unwrap();
        let query = crate::IndicatorQuery::new(crate::Level::Nation, crate::Period::Day, day, day).by(crate::Breakdown::Degre);
        let got = store.query(&query).await.unwrap();
        let visits = crate::reference::visits(&rows, 30 * 60 * 1000);
        assert_eq!(got, crate::reference::answer(&visits, &query));
        store.drop_database().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    let store = ClickHouseRollupStore::new(config("http://127.0.0.1:9", "dnma".into())).unwrap();
    let err = store.migrate().await.unwrap_err().to_string();
    assert!(err.contains("ClickHouse at http://127.0.0.1:9"), "{err}");
}

#[test]
fn database_names_are_checked() {
    assert!(ClickHouseRollupStore::new(config("http://127.0.0.1:8123", "dnma; DROP".into())).is_err());
}

#[test]
fn rows_are_checked_from_clickhouse_21_10_on() {
    for (version, checked) in [("18.16.1", false), ("21.9.6.24", false), ("21.10.1.8013", true), ("26.3.1.1", true), ("", false), ("x", false)] {
        assert_eq!(validates_rows(version), checked, "{version}");
    }
}

/// One day of hits in two log partitions, each visitor's hits in one (by its pseudonym's last
/// byte), positions increasing within each partition.
fn hits_in_two_partitions(hits: usize) -> Vec<crate::hit_row::HitRow> {
    let mut next = [0u64; 2];
    conformance::one_day_of_hits(hits)
        .into_iter()
        .map(|mut row| {
            let partition = u32::from(row.visitor[15] % 2);
            row.offset = collector::log::position(partition, next[partition as usize]);
            next[partition as usize] += 1;
            row
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_day_generations_of_schema_7_are_divided_by_partition_and_keep_their_figures() {
    on_every_server(|url| async move {
        let store = fresh_store(&url).await;
        let rows = hits_in_two_partitions(1_500);
        let day = rows[0].day;
        for partition in [0, 1] {
            let own: Vec<_> = rows.iter().filter(|r| collector::log::partition_of(r.offset) == partition).cloned().collect();
            store.stage_hits(day, crate::facts::hits_batch(&own)).await.unwrap();
        }
        // What version 7 left: the day's facts under one whole-day generation, stamped, current
        // in `generations`, and the day marked dirty in `dirty`; the version recorded is 7.
        let sessionizer = crate::sessionize::Sessionizer::default();
        let facts = sessionizer.run(store.day_hits(day).await.unwrap()).await.unwrap();
        let whole = store.next_version();
        store.insert::<VisitRow<'_>>("visits", VisitRow::rows(&facts.visits, whole).unwrap()).await.unwrap();
        store.insert::<UsageRow<'_>>("usages", UsageRow::rows(&facts.usages, whole).unwrap()).await.unwrap();
        store.insert::<TaggingFactRow<'_>>("tagging", TaggingFactRow::rows(&facts.tagging, whole).unwrap()).await.unwrap();
        let through = store.staged_positions(DayPart::whole(day)).await.unwrap();
        assert_eq!(through.len(), 2, "hits in two partitions");
        store.note_stamp(day, whole, &FactsStamp { through, definition: sessionizer.definition() }).await.unwrap();
        let legacy = format!("INSERT INTO {} (day, generation) VALUES ('{day}', {whole})", store.table("generations"));
        store.execute(store.sql(&legacy).await.unwrap()).await.unwrap();
        let dirty = format!("INSERT INTO {} (day, version, dirty) VALUES ('{day}', {whole}, 1)", store.table("dirty"));
        store.execute(store.sql(&dirty).await.unwrap()).await.unwrap();
        for statement in [
            format!("DROP TABLE {}", store.table("migrations")),
            format!("CREATE TABLE {} (version UInt32, applied DateTime DEFAULT now()) ENGINE = TinyLog", store.table("migrations")),
            format!("INSERT INTO {} (version) VALUES (7)", store.table("migrations")),
        ] {
            store.execute(store.sql(&statement).await.unwrap()).await.unwrap();
        }
        assert_eq!(store.schema_version().await.unwrap(), 7);

        assert_eq!(store.migrate().await.unwrap(), schema::VERSION);
        let visits = crate::reference::visits(&rows, 30 * 60 * 1000);
        let queries = [
            crate::IndicatorQuery::new(crate::Level::Nation, crate::Period::Day, day, day),
            crate::IndicatorQuery::new(crate::Level::Ecole, crate::Period::Day, day, day).by(crate::Breakdown::Profil),
            crate::IndicatorQuery::new(crate::Level::Academie, crate::Period::Day, day, day).by(crate::Breakdown::Service),
        ];
        for query in &queries {
            assert_eq!(store.query(query).await.unwrap(), crate::reference::answer(&visits, query), "divided: {query:?}");
        }
        let tagged: u64 = store.tagging(day, day, None).await.unwrap().iter().map(|t| t.hits).sum();
        assert_eq!(tagged, rows.len() as u64, "tagging counts divided with their hits");
        let listed = format!("SELECT count() FROM {} FINAL WHERE day = toDate('{day}')", store.table("part_generations"));
        assert_eq!(store.fetch_one::<u64>(store.sql(&listed).await.unwrap()).await.unwrap(), 2, "one generation per partition");
        assert_eq!(
            store.dirty_parts().await.unwrap(),
            vec![DayPart::of_partition(day, 0), DayPart::of_partition(day, 1)],
            "the dirty day, in every part"
        );

        // Computed again part by part, and after new hits of one partition only its visitors
        // with new hits are re-cut (each part's stamp came with it).
        for part in store.dirty_parts().await.unwrap() {
            crate::engine::compute_day(&store, sessionizer, part, u64::MAX).await.unwrap();
        }
        assert!(store.dirty_parts().await.unwrap().is_empty());
        let mut more = hits_in_two_partitions(1_600);
        more.retain(|r| collector::log::partition_of(r.offset) == 1 && !rows.iter().any(|old| old.offset == r.offset));
        assert!(!more.is_empty());
        store.stage_hits(day, crate::facts::hits_batch(&more)).await.unwrap();
        assert_eq!(store.dirty_parts().await.unwrap(), vec![DayPart::of_partition(day, 1)], "only the partition that received hits");
        let computed = crate::engine::compute_day(&store, sessionizer, DayPart::of_partition(day, 1), u64::MAX).await.unwrap();
        assert!(computed.partial, "a partial step from the divided stamp");
        let all: Vec<_> = rows.iter().chain(&more).cloned().collect();
        let visits = crate::reference::visits(&all, 30 * 60 * 1000);
        for query in &queries {
            assert_eq!(store.query(query).await.unwrap(), crate::reference::answer(&visits, query), "after the step: {query:?}");
        }
        let kept = format!("SELECT count(DISTINCT generation) FROM {} WHERE day = toDate('{day}')", store.table("visits"));
        assert!(store.fetch_one::<u64>(store.sql(&kept).await.unwrap()).await.unwrap() <= 4, "the whole-day generation dropped once divided");
        store.drop_database().await.unwrap();
    })
    .await;
}
