//! What the load benches share: settings from the environment and the server's memory.

/// A number from the environment, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A memory figure of a process from `/proc/PID/status` (`VmRSS:`, `VmHWM:`…), in KiB; 0 when
/// it cannot be read.
pub fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Whether this run measures: `cargo bench` passes `--bench`; `cargo test --all-targets` runs a
/// bench binary without it, and a load run in a debug build measures nothing, so it only says
/// how to run it.
pub fn measuring(how: &str) -> bool {
    let measuring = std::env::args().any(|a| a == "--bench");
    if !measuring {
        println!("run it with `{how}`");
    }
    measuring
}

/// Starts `dnma ARGS` (a command that serves HTTP and prints its address first); returns the
/// child and its base URL.
pub fn spawn_dnma(args: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child =
        std::process::Command::new(env!("CARGO_BIN_EXE_dnma")).args(args).stdout(std::process::Stdio::piped()).spawn().expect("dnma starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line).expect("dnma prints its address");
    (child, line.trim().to_owned())
}

/// CPU seconds (user and system) a process has used so far, from `/proc/PID/stat` (`"self"` for
/// this process); 0 when it cannot be read. Linux counts them in ticks of 1/100 s (`USER_HZ`).
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) close with ')': utime and
    // stime are fields 14 and 15 of the line, 12 and 13 after it.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after.split_whitespace().skip(11).take(2).filter_map(|v| v.parse::<u64>().ok()).sum();
    #[allow(clippy::cast_precision_loss)] // CPU ticks of a bench run
    let seconds = ticks as f64 / 100.0;
    seconds
}
