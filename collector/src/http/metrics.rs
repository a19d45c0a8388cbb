//! The collector's counters, exposed at `GET /metrics` in Prometheus text format. Every request
//! is counted received, then accepted, rejected (by reason code), dropped (bots, duplicates) or
//! answered with an error (by code); appends are timed in a histogram.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::freshness::Freshness;

/// Upper bounds of the append latency buckets, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0];

/// All counters.
#[derive(Default)]
pub struct Metrics {
    /// Requests received, by format.
    pub requests_piano: AtomicU64,
    /// SmartTag requests received.
    pub requests_xiti: AtomicU64,
    /// Body bytes received.
    pub bytes: AtomicU64,
    /// Events accepted into the log.
    pub accepted: AtomicU64,
    /// Events refused, by reason code (an event with several reasons counts under each).
    rejected: Mutex<BTreeMap<String, u64>>,
    /// Requests dropped as bots, by class.
    dropped: Mutex<BTreeMap<String, u64>>,
    /// Requests answered with an error, by code.
    errors: Mutex<BTreeMap<String, u64>>,
    /// Retried SDK bodies recognized and not stored again.
    pub duplicates: AtomicU64,
    append_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    append_count: AtomicU64,
    append_micros: AtomicU64,
}

fn bump(map: &Mutex<BTreeMap<String, u64>>, key: &str, by: u64) {
    let mut map = map.lock().expect("metrics lock");
    if let Some(v) = map.get_mut(key) {
        *v += by;
    } else {
        map.insert(key.to_owned(), by);
    }
}

impl Metrics {
    /// Counts a refusal reason.
    pub fn rejected(&self, code: &str) {
        bump(&self.rejected, code, 1);
    }

    /// Counts a request dropped as a bot.
    pub fn dropped(&self, class: &str) {
        bump(&self.dropped, class, 1);
    }

    /// Counts an error answer.
    pub fn error(&self, code: &str) {
        bump(&self.errors, code, 1);
    }

    /// Records an append's latency.
    pub fn append_latency(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bucket, bound) in self.append_buckets.iter().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.append_count.fetch_add(1, Ordering::Relaxed);
        self.append_micros.fetch_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Total events refused, all codes.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.lock().expect("metrics lock").values().sum()
    }

    /// The Prometheus text exposition; `log_bytes` and `log_records` by topic come from the log,
    /// the receive times of the newest hits and the counting lag from `freshness`.
    pub fn render(&self, log: &[(&str, u64, u64)], freshness: &Freshness) -> String {
        let mut out = String::new();
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP dnma_requests_received_total Requests received, by wire format.\n# TYPE dnma_requests_received_total counter");
        let _ = writeln!(out, "dnma_requests_received_total{{format=\"piano\"}} {}", get(&self.requests_piano));
        let _ = writeln!(out, "dnma_requests_received_total{{format=\"xiti\"}} {}", get(&self.requests_xiti));
        let _ = writeln!(
            out,
            "# HELP dnma_received_bytes_total Body and query bytes received.\n# TYPE dnma_received_bytes_total counter\ndnma_received_bytes_total {}",
            get(&self.bytes)
        );
        let _ = writeln!(out, "# HELP dnma_events_accepted_total Events written to the hit log.\n# TYPE dnma_events_accepted_total counter\ndnma_events_accepted_total {}", get(&self.accepted));
        let _ = writeln!(out, "# HELP dnma_duplicate_bodies_total Retried SDK bodies not stored twice.\n# TYPE dnma_duplicate_bodies_total counter\ndnma_duplicate_bodies_total {}", get(&self.duplicates));
        for (name, help, map, label) in [
            ("dnma_events_rejected_total", "Events refused, by reason code.", &self.rejected, "code"),
            ("dnma_requests_dropped_total", "Requests dropped as bots, by class.", &self.dropped, "class"),
            ("dnma_http_errors_total", "Requests answered with an error, by code.", &self.errors, "code"),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (key, value) in map.lock().expect("metrics lock").iter() {
                let _ = writeln!(out, "{name}{{{label}=\"{key}\"}} {value}");
            }
        }
        let _ = writeln!(out, "# HELP dnma_log_append_seconds Latency of durable appends.\n# TYPE dnma_log_append_seconds histogram");
        for (bucket, bound) in self.append_buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(out, "dnma_log_append_seconds_bucket{{le=\"{bound}\"}} {}", get(bucket));
        }
        let count = get(&self.append_count);
        let _ = writeln!(out, "dnma_log_append_seconds_bucket{{le=\"+Inf\"}} {count}");
        #[allow(clippy::cast_precision_loss)]
        let sum = get(&self.append_micros) as f64 / 1e6;
        let _ = writeln!(out, "dnma_log_append_seconds_sum {sum}\ndnma_log_append_seconds_count {count}");
        let _ = writeln!(out, "# HELP dnma_log_bytes Bytes on disk, by topic.\n# TYPE dnma_log_bytes gauge");
        for (topic, bytes, _) in log {
            let _ = writeln!(out, "dnma_log_bytes{{topic=\"{topic}\"}} {bytes}");
        }
        let _ = writeln!(out, "# HELP dnma_log_records Records ever appended, by topic.\n# TYPE dnma_log_records gauge");
        for (topic, _, records) in log {
            let _ = writeln!(out, "dnma_log_records{{topic=\"{topic}\"}} {records}");
        }
        let _ = writeln!(out, "# HELP dnma_newest_hit_timestamp_seconds Receive time of the newest hit acknowledged, staged and counted in the facts.\n# TYPE dnma_newest_hit_timestamp_seconds gauge");
        for (stage, ms) in
            [("acknowledged", freshness.newest_acknowledged()), ("staged", freshness.newest_staged()), ("counted", freshness.newest_counted())]
        {
            if let Some(ms) = ms {
                #[allow(clippy::cast_precision_loss)]
                let seconds = ms as f64 / 1e3;
                let _ = writeln!(out, "dnma_newest_hit_timestamp_seconds{{stage=\"{stage}\"}} {seconds}");
            }
        }
        if let Some(lag) = freshness.lag() {
            let _ = writeln!(
                out,
                "# HELP dnma_counting_lag_seconds Newest acknowledged hit minus newest counted hit (receive times).\n# TYPE dnma_counting_lag_seconds gauge\ndnma_counting_lag_seconds {}",
                lag.as_secs_f64()
            );
        }
        out
    }
}
