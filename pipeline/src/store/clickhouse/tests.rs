//! The store against a real ClickHouse server: the `RollupStore` conformance suite, and a day
//! replaced while it is read. The server is the one at `DNMA_CLICKHOUSE_URL` (`.ci/run` starts
//! Debian's `clickhouse-server` with `scripts/clickhouse.sh`); without it the tests say so and
//! pass, except under `CI=true` where a missing server is a failure.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::store::conformance;

static DATABASES: AtomicU32 = AtomicU32::new(0);

fn server() -> Option<String> {
    match std::env::var("DNMA_CLICKHOUSE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must run the ClickHouse tests: DNMA_CLICKHOUSE_URL is not set");
            eprintln!("skipped: set DNMA_CLICKHOUSE_URL to a ClickHouse server (scripts/clickhouse.sh DIR PORT starts one)");
            None
        }
    }
}

/// A migrated store in a database of its own, dropped by [`drop_all`].
async fn fresh_store(url: &str) -> ClickHouseRollupStore {
    let n = DATABASES.fetch_add(1, Ordering::Relaxed);
    let config =
        ClickHouseConfig { url: url.to_owned(), database: format!("dnma_test_{}_{n}", std::process::id()), user: "default".into(), password: None };
    let store = ClickHouseRollupStore::new(config).unwrap();
    store.drop_database().await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 0);
    assert_eq!(store.migrate().await.unwrap(), schema::VERSION);
    assert_eq!(store.migrate().await.unwrap(), schema::VERSION, "migrating again changes nothing");
    assert_eq!(store.schema_version().await.unwrap(), schema::VERSION);
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_rollup_store_conformance_suite() {
    let Some(url) = server() else { return };
    let mut stores = Vec::new();
    for _ in 0..conformance::STORES_NEEDED {
        stores.push(fresh_store(&url).await);
    }
    let databases: Vec<String> = stores.iter().map(|s| s.config.database.clone()).collect();
    let stores = Mutex::new(stores);
    conformance::run(|| stores.lock().unwrap().pop().expect("enough stores prepared")).await;
    for database in databases {
        let config = ClickHouseConfig { url: url.clone(), database, user: "default".into(), password: None };
        ClickHouseRollupStore::new(config).unwrap().drop_database().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_replaced_while_it_is_read_shows_old_or_new_facts_and_old_generations_go() {
    let Some(url) = server() else { return };
    let store = Arc::new(fresh_store(&url).await.with_day_hits_slice(700));
    let rows = conformance::one_day_of_hits(2_000);
    conformance::replaced_day_reads_old_or_new(Arc::clone(&store), &rows, 8).await;
    let slices = store.day_hits(rows[0].day).await.unwrap();
    assert!(slices.len() >= 2, "read back in slices of 700");
    let offsets: Vec<u64> = slices.iter().flat_map(|b| b.column(0).as_primitive::<UInt64Type>().values().to_vec()).collect();
    let expected: Vec<u64> = rows.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, expected, "every staged hit once, in offset order");
    let generations = store.select_json(&format!("SELECT count(DISTINCT generation) AS n FROM {}", store.table("visits"))).await.unwrap();
    assert!(generations[0]["n"].as_u64().unwrap() <= 2, "at most the current and the previous generation are kept: {generations:?}");
    store.drop_database().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    let config = ClickHouseConfig { url: "http://127.0.0.1:9".into(), database: "dnma".into(), user: "default".into(), password: None };
    let err = ClickHouseRollupStore::new(config).unwrap().migrate().await.unwrap_err().to_string();
    assert!(err.contains("ClickHouse at http://127.0.0.1:9"), "{err}");
}

#[test]
fn database_names_are_checked() {
    let config = ClickHouseConfig { url: "http://127.0.0.1:8123".into(), database: "dnma; DROP".into(), user: "default".into(), password: None };
    assert!(ClickHouseRollupStore::new(config).is_err());
}
