//! `dnma config check` with the real binary: a valid file is summarized without its secrets, an
//! unknown key or a bad value is refused with its name, and `DNMA_<TABLE>__<KEY>` environment
//! variables override the file.

use std::process::{Command, Output};

fn check(file: &std::path::Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dnma")).args(["config", "check", file.to_str().unwrap()]).envs(env.iter().copied()).output().unwrap()
}

#[test]
fn config_check_summarizes_refuses_and_takes_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dnma.toml");
    std::fs::write(
        &path,
        r#"
[retention]
log_days = 31

[dashboards]
k = 5
readers = ["lecteur-tres-secret"]

[[dashboards.editors]]
name = "Région"
token = "editeur-tres-secret"
plateformes = ["ENT-BZH"]

[store]
kind = "clickhouse"
url = "http://127.0.0.1:8123"
password = "mot-de-passe-secret"
"#,
    )
    .unwrap();
    let ok = check(&path, &[]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(
        stdout.contains(": OK") && stdout.contains("raw log 31 days") && stdout.contains("1 editor(s)") && stdout.contains("(password set)"),
        "{stdout}"
    );
    assert!(!stdout.contains("secret") && !stdout.contains("mot-de-passe"), "no secret is printed: {stdout}");

    let overridden = check(&path, &[("DNMA_RETENTION__LOG_DAYS", "7")]);
    assert!(String::from_utf8_lossy(&overridden.stdout).contains("raw log 7 days"), "{}", String::from_utf8_lossy(&overridden.stdout));

    let bad = check(&path, &[("DNMA_RETENTION__LOG_DAYS", "0")]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr.contains("[retention] log_days must be between 1 and 400") && stderr.contains("DNMA_RETENTION__LOG_DAYS"), "{stderr}");
    assert!(!stderr.contains("secret"), "{stderr}");

    std::fs::write(&path, "[collector]\nmax_body_bytes = 1000\nsegmet_bytes = 10\n").unwrap();
    let unknown = check(&path, &[]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr.contains("segmet_bytes") && stderr.contains("dnma.toml"), "{stderr}");
}

#[test]
fn the_docker_compose_configuration_is_valid_and_says_kafka_and_clickhouse() {
    let dir = tempfile::tempdir().unwrap();
    // The compose file's key file lives in a volume; here one stands in for it.
    let keys = dir.path().join("keys");
    std::fs::write(&keys, format!("2026-2027={}\n", "ab".repeat(32))).unwrap();
    let deploy =
        std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned())).join("deploy/dnma.toml");
    let out = check(&deploy, &[("DNMA_COLLECTOR__KEY_FILE", keys.to_str().unwrap())]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("log: kafka kafka:9092 topics dnma.hits"), "{stdout}");
    assert!(stdout.contains("store: clickhouse http://clickhouse:8123") && !stdout.contains("password = "), "{stdout}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[log]\nkind = \"kafka\"\nbrokers = \"k:9092\"\ncompression = \"brotli\"\n").unwrap();
    let out = check(&bad, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("compression"), "{}", String::from_utf8_lossy(&out.stderr));
}
