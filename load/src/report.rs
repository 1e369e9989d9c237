//! What a run measured: as a table for people and as JSON for scripts and charts.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt::Write as _;
use std::time::Duration;

/// CPU time and peak memory of a process, from /proc.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcSnapshot {
    pub cpu_seconds: f64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

/// /proc reports CPU time in USER_HZ ticks, which Linux fixes at 100 for user space.
const USER_HZ: f64 = 100.0;

impl ProcSnapshot {
    pub fn read(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after = stat.rsplit_once(") ")?.1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kib = |key: &str| -> Option<u64> {
            status
                .lines()
                .find(|l| l.starts_with(key))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        };
        Some(Self {
            cpu_seconds: (utime + stime) / USER_HZ,
            rss_kib: kib("VmRSS:")?,
            peak_rss_kib: kib("VmHWM:")?,
        })
    }
}

/// Latencies in microseconds.
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self(
            Histogram::new_with_bounds(1, 120_000_000, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
        )
    }
}

impl Latency {
    pub fn record(&mut self, micros: u64) {
        let _ = self.0.record(micros.clamp(1, 120_000_000));
    }

    pub fn merge(&mut self, other: &Latency) {
        let _ = self.0.add(&other.0);
    }

    pub fn summary(&self) -> LatencySummary {
        let ms = |q: f64| self.0.value_at_quantile(q) as f64 / 1000.0;
        LatencySummary {
            count: self.0.len(),
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            max_ms: self.0.max() as f64 / 1000.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One scenario's result against one server.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    pub server: String,
    pub clients: usize,
    pub messages_sent: u64,
    pub acks: u64,
    pub expected_deliveries: u64,
    pub deliveries: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub connection_errors: u64,
    pub seconds: f64,
    pub deliveries_per_second: f64,
    pub messages_per_second: f64,
    pub latency: LatencySummary,
    pub stored: Option<u64>,
    pub server_cpu_seconds: Option<f64>,
    pub server_peak_rss_kib: Option<u64>,
    pub server_rss_kib: Option<u64>,
    /// Scenario-specific figures (RSS per connection, requests per second, ...).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    /// Fills in the server's CPU and memory between two snapshots.
    pub fn with_server(
        mut self,
        before: Option<ProcSnapshot>,
        after: Option<ProcSnapshot>,
    ) -> Self {
        if let (Some(b), Some(a)) = (before, after) {
            self.server_cpu_seconds = Some(a.cpu_seconds - b.cpu_seconds);
            self.server_peak_rss_kib = Some(a.peak_rss_kib);
            self.server_rss_kib = Some(a.rss_kib);
        }
        self
    }

    pub fn is_clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.connection_errors == 0
    }

    pub fn table(&self) -> String {
        let mut t = String::new();
        let mut row = |k: &str, v: String| {
            let _ = writeln!(t, "  {k:<24} {v}");
        };
        row(
            "scenario",
            format!("{} against {}", self.scenario, self.server),
        );
        row("clients", self.clients.to_string());
        row(
            "messages sent / acked",
            format!("{} / {}", self.messages_sent, self.acks),
        );
        row(
            "deliveries",
            format!(
                "{} of {} expected",
                self.deliveries, self.expected_deliveries
            ),
        );
        row(
            "lost / duplicated",
            format!("{} / {}", self.lost, self.duplicated),
        );
        row("connection errors", self.connection_errors.to_string());
        row("duration", format!("{:.2} s", self.seconds));
        row(
            "deliveries per second",
            format!("{:.0}", self.deliveries_per_second),
        );
        row(
            "messages per second",
            format!("{:.0}", self.messages_per_second),
        );
        let l = self.latency;
        row(
            "latency p50/p90/p99/max",
            format!(
                "{:.2} / {:.2} / {:.2} / {:.2} ms",
                l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            ),
        );
        if let Some(stored) = self.stored {
            row("stored", stored.to_string());
        }
        if let Some(cpu) = self.server_cpu_seconds {
            row("server CPU", format!("{cpu:.2} s"));
        }
        if let Some(rss) = self.server_peak_rss_kib {
            row("server peak RSS", format!("{:.1} MiB", rss as f64 / 1024.0));
        }
        for (k, v) in &self.extra {
            row(k, v.to_string());
        }
        t
    }
}

pub fn per_second(count: u64, took: Duration) -> f64 {
    let secs = took.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_read() {
        let snap = ProcSnapshot::read(std::process::id());
        assert!(snap.is_some_and(|s| s.peak_rss_kib >= s.rss_kib && s.rss_kib > 0));
    }

    #[test]
    fn latency_quantiles() {
        let mut l = Latency::default();
        for us in 1..=1000 {
            l.record(us * 1000);
        }
        let s = l.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 500.0).abs() < 2.0, "{s:?}");
        assert!((s.max_ms - 1000.0).abs() < 2.0, "{s:?}");
    }
}
