//! End-to-end tests: the real `dnma` binary, run as a user runs it. One test binary with a
//! module per command family, so it links once.

mod clickhouse;
mod collector;
mod config_cli;
mod dashboards;
mod dashboards_compare_notes;
mod demo;
mod disk_full;
mod distributed;
mod erase;
mod inspector;
mod perimeter_cli;
mod pipeline;
mod plan_cli;
mod referential_cli;
mod replay;
mod retention;
mod suppression;

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Schools of the recorded traffic (UAI, project, platform): real UAIs of three départements on
/// two ENT projects.
pub const SCHOOLS: [(&str, &str, &str); 6] = [
    ("0350122T", "ENT_35", "ONE"),
    ("0350165P", "ENT_35", "ONE"),
    ("0940176F", "ENT_94", "MBN"),
    ("0290045S", "ENT_29", "ONE"),
    ("0940198E", "ENT_94", "MBN"),
    ("0350266Z", "ENT_35", "ONE"),
];

/// Runs `dnma` with arguments and optional stdin.
pub fn dnma(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dnma"))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dnma starts");
    // Feed stdin from another thread: the child's output may fill its pipe before it has read
    // all of its input.
    let mut pipe = child.stdin.take();
    let input = stdin.map(<[u8]>::to_vec);
    let feeder = std::thread::spawn(move || {
        if let (Some(pipe), Some(input)) = (pipe.as_mut(), input) {
            pipe.write_all(&input).unwrap();
        }
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    output
}

/// The JSON lines of a command's stdout.
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}
