//! Checks the official `clickhouse` crate against a ClickHouse HTTP endpoint (made for the chdb
//! adapter, `scripts/chdb_http.py`): ping, a `MergeTree` table, 100,000 typed rows inserted with LZ4
//! and read back with validation on, server-side parameters, a per-query setting and errors.
//! Exits non-zero on the first mismatch. Usage: `chdb-check URL [ROWS]`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use clickhouse::{Client, Compression, Row};
use serde::{Deserialize, Serialize};

/// One row of the check table, one field per column type the project's store uses.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
struct Event {
    id: u64,
    delta: i64,
    name: String,
    #[serde(with = "clickhouse::serde::time::date")]
    day: time::Date,
    referrer: Option<String>,
    flag: u8,
}

/// A row type that does not match the check table (`id` is a `UInt64` there).
#[derive(Debug, Row, Serialize)]
struct Wrong {
    id: String,
}

/// The `i`-th row: every value derived from `i`, strings of varying length (some empty, some
/// non-ASCII), a third of the nullable values NULL.
fn event(i: u64) -> Event {
    let epoch = time::Date::from_calendar_date(2020, time::Month::January, 1).expect("valid date");
    Event {
        id: i,
        delta: i64::try_from(i).expect("small") * if i.is_multiple_of(2) { -7 } else { 13 },
        name: format!("école-{}-{}", i, "x".repeat(usize::try_from(i % 17).expect("small"))),
        day: epoch + time::Duration::days(i64::try_from(i % 3000).expect("small")),
        referrer: (!i.is_multiple_of(3)).then(|| format!("https://ent.example/{}", i % 101)),
        flag: u8::try_from(i % 256).expect("small"),
    }
}

/// `GET /ping` over a plain socket: the server must answer `Ok.`.
fn ping(url: &str) -> anyhow::Result<()> {
    let authority = url.strip_prefix("http://").context("URL must start with http://")?.trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).with_context(|| format!("connect {authority}"))?;
    write!(stream, "GET /ping HTTP/1.0\r\nHost: {authority}\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    ensure!(answer.starts_with("HTTP/1.") && answer.contains(" 200 "), "ping: {answer}");
    ensure!(answer.ends_with("\r\n\r\nOk.\n"), "ping body: {answer}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().context("usage: chdb-check URL [ROWS]")?;
    let rows: u64 = args.next().map_or(Ok(100_000), |n| n.parse())?;

    ping(&url)?;
    println!("ping: Ok.");

    let client = Client::default().with_url(&url).with_user("default").with_compression(Compression::Lz4).with_validation(true);

    let version: String = client.query("SELECT version()").fetch_one().await?;
    println!("server version: {version}");

    client.query("DROP TABLE IF EXISTS chdb_check").execute().await?;
    client
        .query(
            "CREATE TABLE chdb_check (id UInt64, delta Int64, name String, day Date, \
             referrer Nullable(String), flag UInt8) ENGINE = MergeTree ORDER BY id",
        )
        .execute()
        .await?;

    let expected: Vec<Event> = (0..rows).map(event).collect();
    let started = Instant::now();
    let mut insert = client.insert::<Event>("chdb_check").await?;
    for row in &expected {
        insert.write(row).await?;
    }
    insert.end().await?;
    let elapsed = started.elapsed();
    #[allow(clippy::cast_precision_loss)]
    let rate = rows as f64 / elapsed.as_secs_f64();
    println!("inserted {rows} rows in {:.3} s: {rate:.0} rows/s", elapsed.as_secs_f64());

    let started = Instant::now();
    let actual = client.query("SELECT ?fields FROM chdb_check ORDER BY id").fetch_all::<Event>().await?;
    println!("fetched {} rows in {:.3} s", actual.len(), started.elapsed().as_secs_f64());
    ensure!(actual.len() == expected.len(), "{} rows read back, {} written", actual.len(), expected.len());
    if let Some(i) = (0..actual.len()).find(|&i| actual[i] != expected[i]) {
        bail!("row {i} differs: read {:?}, wrote {:?}", actual[i], expected[i]);
    }
    println!("all {rows} rows read back equal");

    // Without validation the crate sends and reads plain RowBinary.
    let plain = client.clone().with_validation(false);
    let some: Vec<Event> = (0..10_000).map(|i| event(i * 7)).collect();
    plain.query("CREATE TABLE chdb_check_plain AS chdb_check ENGINE = MergeTree ORDER BY id").execute().await?;
    let mut insert = plain.insert::<Event>("chdb_check_plain").await?;
    for row in &some {
        insert.write(row).await?;
    }
    insert.end().await?;
    let back = plain.query("SELECT ?fields FROM chdb_check_plain ORDER BY id").fetch_all::<Event>().await?;
    ensure!(back == some, "RowBinary without validation: rows differ");
    plain.query("DROP TABLE chdb_check_plain").execute().await?;
    println!("RowBinary without validation: {} rows read back equal", back.len());

    // Raw bytes in another format.
    let mut cursor = client.query("SELECT id, name FROM chdb_check WHERE id < 2 ORDER BY id").fetch_bytes("JSONEachRow")?;
    let mut json = Vec::new();
    while let Some(chunk) = cursor.next().await? {
        json.extend_from_slice(&chunk);
    }
    let json = String::from_utf8(json)?;
    ensure!(
        json == format!("{{\"id\":0,\"name\":\"{}\"}}\n{{\"id\":1,\"name\":\"{}\"}}\n", expected[0].name, expected[1].name),
        "JSONEachRow bytes: {json}"
    );
    println!("fetch_bytes(JSONEachRow): {} bytes", json.len());

    // Server-side parameters (`param_*`) and client-side binding.
    let count: u64 =
        client.query("SELECT count() FROM chdb_check WHERE flag = {flag:UInt8} AND id < ?").bind(1000).param("flag", 7).fetch_one().await?;
    let wanted = expected.iter().filter(|e| e.flag == 7 && e.id < 1000).count() as u64;
    ensure!(count == wanted, "count with parameters: {count}, expected {wanted}");
    println!("server-side parameter: {count} rows");

    // A per-query setting reaches the engine, and does not outlive the query.
    let threads: String = client.query("SELECT getSetting('max_threads')::String").with_setting("max_threads", "3").fetch_one().await?;
    ensure!(threads == "3", "max_threads under the setting: {threads}");
    let threads: String = client.query("SELECT getSetting('max_threads')::String").fetch_one().await?;
    ensure!(threads != "3" || num_threads_is_three(), "max_threads stayed 3 after the query");
    println!("per-query setting: applied and reset");

    // Errors come back as the crate's errors, with ClickHouse's code.
    let error = client.query("SELECT * FROM no_such_table").fetch_all::<Event>().await.expect_err("querying a missing table must fail");
    ensure!(error.to_string().contains("Code: 60"), "unexpected error: {error}");
    println!("error answer: {error}");

    // With validation, an insert into a missing table fails on its DESCRIBE.
    let missing = client.insert::<Event>("no_such_table").await;
    let error = missing.err().context("an insert into a missing table was accepted")?;
    ensure!(error.to_string().contains("Code: 60"), "unexpected error: {error}");
    println!("insert into a missing table: {error}");

    // A row type that does not match the table is refused by validation before sending.
    let refused = async {
        let mut insert = client.insert::<Wrong>("chdb_check").await?;
        insert.write(&Wrong { id: "x".into() }).await?;
        insert.end().await
    }
    .await;
    ensure!(refused.is_err(), "a String into UInt64 was accepted");
    println!("validation refused a wrong row type: {}", refused.expect_err("checked"));

    client.query("DROP TABLE chdb_check").execute().await?;
    println!("chdb-check passed");
    Ok(())
}

/// Whether the machine's default `max_threads` happens to be 3 (so the reset check cannot tell).
fn num_threads_is_three() -> bool {
    std::thread::available_parallelism().is_ok_and(|n| n.get() == 3)
}
