//! The distributed store through the real binary: `dnma clickhouse migrate` creates the tables on
//! a real ClickHouse server, `dnma pipeline run --once` computes the same log into the Parquet
//! store and into ClickHouse, and `dnma query` answers the same figures from both, cell for cell.
//! It runs on every server given: `DNMA_CLICKHOUSE_URL` (Debian's 18.16 in CI, started by
//! `.ci/run`) and, when set, `DNMA_CHDB_URL` (the current ClickHouse engine, 26.x, behind the
//! chDB test adapter); a failure names the server. Without a server the test says so and
//! passes, except under `CI=true`, where `DNMA_CLICKHOUSE_URL` is required, and `DNMA_CHDB_URL`
//! too when `DNMA_CHDB_REQUIRED=1`.

use std::fmt::Write as _;
use std::path::Path;

use super::{dnma, SCHOOLS};

/// The servers given in the environment: (what it is, its URL).
fn servers() -> Vec<(String, String)> {
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let mut servers = Vec::new();
    for (variable, required, how) in [
        ("DNMA_CLICKHOUSE_URL", ci, "scripts/clickhouse.sh DIR PORT starts ClickHouse 18.16"),
        ("DNMA_CHDB_URL", ci && std::env::var("DNMA_CHDB_REQUIRED").as_deref() == Ok("1"), "the chDB test adapter serves ClickHouse 26.x"),
    ] {
        match std::env::var(variable) {
            Ok(url) if !url.is_empty() => servers.push((format!("{variable}={url}"), url)),
            _ => {
                assert!(!required, "CI must run the ClickHouse tests on this server: {variable} is not set");
                eprintln!("not tested on {variable}: set it to a ClickHouse server ({how})");
            }
        }
    }
    servers
}

/// The ClickHouse 18.16 server (`DNMA_CLICKHOUSE_URL`), for the tests that run on one server.
pub(crate) fn server() -> Option<String> {
    servers().into_iter().find(|(what, _)| what.starts_with("DNMA_CLICKHOUSE_URL=")).map(|(_, url)| url)
}

/// Recorded SmartTag hits for `dnma import`: 60 users of 6 schools over 3 days, visits of a few
/// pages, several profiles and services.
fn recorded_hits() -> String {
    const SERVICES: [&str; 4] = ["COURRIER_ELECTRONIQUE", "CAHIER_TEXTES", "NOTES", "ACTUALITES"];
    let mut lines = String::new();
    for day in 16..19 {
        for user in 0..60_u32 {
            let (uai, projet, plateforme) = SCHOOLS[user as usize % SCHOOLS.len()];
            let profile = [1, 1, 1, 2, 3][user as usize % 5];
            let pages = 1 + (user + day) % 4;
            for page in 0..pages {
                let minute = (user * 7 + page * 3 + day) % 50;
                let hour = 8 + (user + day) % 9;
                let service = SERVICES[((user + page) as usize) % SERVICES.len()];
                let _ = writeln!(
                    lines,
                    "2026-11-{day}T{hour:02}:{minute:02}:00+01:00\t/hit.xiti?s=1&p=page{page}&at=user-{user}&ac={profile}&service={service}&type=NATIF&uai={uai}&projet={projet}&exploitant=ODE&plateforme={plateforme}"
                );
            }
        }
    }
    lines
}

fn query(data_dir: &Path, config: Option<&Path>, args: &[&str]) -> String {
    let mut all = vec!["query", "--data-dir", data_dir.to_str().unwrap(), "--from", "2026-11-16", "--to", "2026-11-18", "--format", "json"];
    all.extend_from_slice(args);
    if let Some(config) = config {
        all.extend_from_slice(&["--config", config.to_str().unwrap()]);
    }
    let out = dnma(&all, None);
    assert!(out.status.success(), "dnma {all:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn clickhouse_and_parquet_stores_answer_the_same_figures() {
    let servers = servers();
    if servers.is_empty() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path();
    let imported = dnma(&["import", "--data-dir", data_dir.to_str().unwrap(), "-"], Some(recorded_hits().as_bytes()));
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let parquet = dnma(&["pipeline", "run", "--once", "--data-dir", data_dir.to_str().unwrap()], None);
    assert!(parquet.status.success(), "{}", String::from_utf8_lossy(&parquet.stderr));
    for (n, (server, url)) in servers.iter().enumerate() {
        same_figures_on(server, url, n, data_dir).await;
    }
}

/// Computes the log of `data_dir` into a new database of the server at `url` (the `n`th
/// server: a consumer and a database of its own) and compares its figures with the Parquet
/// store's.
async fn same_figures_on(server: &str, url: &str, n: usize, data_dir: &Path) {
    let database = format!("dnma_e2e_{}_{n}", std::process::id());
    let config = data_dir.join(format!("clickhouse-{n}.toml"));
    std::fs::write(
        &config,
        format!("[pipeline]\nconsumer = \"pipeline-clickhouse-{n}\"\n\n[store]\nkind = \"clickhouse\"\nurl = \"{url}\"\ndatabase = \"{database}\"\n"),
    )
    .unwrap();
    let run = || dnma(&["pipeline", "run", "--once", "--data-dir", data_dir.to_str().unwrap(), "--config", config.to_str().unwrap()], None);
    let before = run();
    assert!(!before.status.success(), "on {server}: an unmigrated database is refused");
    assert!(String::from_utf8_lossy(&before.stderr).contains("dnma clickhouse migrate"), "on {server}: {}", String::from_utf8_lossy(&before.stderr));
    for _ in 0..2 {
        let migrate = dnma(&["clickhouse", "migrate", "--config", config.to_str().unwrap()], None);
        assert!(migrate.status.success(), "on {server}: {}", String::from_utf8_lossy(&migrate.stderr));
        let current = format!("schema version {}", pipeline::store::clickhouse::schema::VERSION);
        assert!(String::from_utf8_lossy(&migrate.stderr).contains(&current), "on {server}: {}", String::from_utf8_lossy(&migrate.stderr));
    }

    let clickhouse = run();
    assert!(clickhouse.status.success(), "on {server}: {}", String::from_utf8_lossy(&clickhouse.stderr));
    assert!(String::from_utf8_lossy(&clickhouse.stderr).contains("hits staged"), "on {server}: {}", String::from_utf8_lossy(&clickhouse.stderr));

    for args in [
        &["--level", "nation", "--period", "day"][..],
        &["--level", "ecole", "--period", "week", "--breakdown", "profil"],
        &["--level", "academie", "--period", "day", "--breakdown", "service"],
        &["--level", "plateforme", "--period", "month"],
        &["--level", "departement", "--period", "school_year", "--breakdown", "navigateur"],
    ] {
        let expected = query(data_dir, None, args);
        assert!(expected.lines().count() > 0, "figures for {args:?}");
        assert_eq!(query(data_dir, Some(&config), args), expected, "on {server}: same figures for {args:?}");
    }
    let nation = query(data_dir, Some(&config), &["--level", "nation", "--period", "school_year"]);
    let row: serde_json::Value = serde_json::from_str(nation.lines().next().unwrap()).unwrap();
    assert_eq!(row["visitors"], 60, "on {server}: {row}");

    // Running again reads nothing new and changes nothing.
    assert!(run().status.success(), "on {server}: a second run");
    assert_eq!(
        query(data_dir, Some(&config), &["--level", "nation", "--period", "school_year"]),
        nation,
        "on {server}: a second run changes nothing"
    );
    let dropped = reqwest::Client::new().post(url).body(format!("DROP DATABASE {database}")).send().await.unwrap();
    assert!(dropped.status().is_success(), "on {server}: database dropped");
}
