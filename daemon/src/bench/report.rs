//! What a bench run measured: per-worker tallies merged into one report, as JSON or text.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies above this (µs) are recorded as this (a minute: far past any request timeout).
const MAX_MICROS: u64 = 60_000_000;

/// One worker's tally of measured requests.
pub struct Tally {
    /// Latency of every answered request, in microseconds.
    pub latency: Histogram<u64>,
    /// Answers by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    /// Requests that got no answer, by kind (connect, tls, timeout, ...).
    pub transport: BTreeMap<String, u64>,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Tally {
        Tally {
            // 3 significant digits from 1 µs to a minute; the bounds are valid, so this holds.
            latency: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
            by_status: BTreeMap::new(),
            transport: BTreeMap::new(),
        }
    }

    /// An answered request.
    pub fn answer(&mut self, status: u16, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_MICROS);
        self.latency.saturating_record(micros);
        *self.by_status.entry(status).or_default() += 1;
    }

    /// A request without an answer.
    pub fn failure(&mut self, kind: &str) {
        *self.transport.entry(kind.to_string()).or_default() += 1;
    }

    /// Adds another worker's tally to this one.
    pub fn merge(&mut self, other: Tally) {
        let _ = self.latency.add(&other.latency);
        for (k, v) in other.by_status {
            *self.by_status.entry(k).or_default() += v;
        }
        for (k, v) in other.transport {
            *self.transport.entry(k).or_default() += v;
        }
    }
}

impl Default for Tally {
    fn default() -> Tally {
        Tally::new()
    }
}

/// Latency percentiles, microseconds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    /// Mean latency.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest request.
    pub max: u64,
}

/// Failed requests: non-2xx answers by status, and requests with no answer by kind.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Errors {
    /// Failed requests: non-2xx answers plus requests with no answer.
    pub total: u64,
    /// Non-2xx answers by status code (`"503"`).
    pub by_status: BTreeMap<String, u64>,
    /// Requests with no answer by kind (`connect`, `tls`, `http`, `timeout`, `io`).
    pub transport: BTreeMap<String, u64>,
}

/// The report of one run (`--json` prints it as is).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The URL loaded.
    pub url: String,
    /// `seed-json`, `oip-json` or `oip-binary`.
    pub body: &'static str,
    /// `http/1.1` or `h2`.
    pub protocol: &'static str,
    /// `closed` (fixed concurrency) or `open` (fixed rate).
    pub mode: &'static str,
    /// Requests in flight at once (closed loop), or the bound on them (open loop).
    pub concurrency: usize,
    /// Requests started per second in an open loop.
    pub rate: Option<f64>,
    /// Seconds measured (warm-up excluded).
    pub seconds: f64,
    /// Measured requests: answered plus those with no answer.
    pub requests: u64,
    /// Answers with a 2xx status.
    pub ok: u64,
    /// Measured requests divided by `seconds`.
    pub requests_per_second: f64,
    /// Latency of the answered requests, microseconds (open loop: from the intended start).
    pub latency_micros: Latency,
    /// What failed.
    pub errors: Errors,
}

/// How a run was set up, for the report.
pub struct Setup {
    /// The URL loaded.
    pub url: String,
    /// `seed-json`, `oip-json` or `oip-binary`.
    pub body: &'static str,
    /// `http/1.1` or `h2`.
    pub protocol: &'static str,
    /// `--concurrency`.
    pub concurrency: usize,
    /// `--rate`, when given.
    pub rate: Option<f64>,
}

impl Report {
    /// Builds the report of `tally` over `elapsed`.
    pub fn new(setup: Setup, tally: &Tally, elapsed: Duration) -> Report {
        let h = &tally.latency;
        let answered: u64 = tally.by_status.values().sum();
        let ok: u64 =
            tally.by_status.iter().filter(|(s, _)| (200..300).contains(*s)).map(|(_, n)| n).sum();
        let no_answer: u64 = tally.transport.values().sum();
        let seconds = elapsed.as_secs_f64();
        let pct = |q: f64| if h.is_empty() { 0 } else { h.value_at_quantile(q) };
        Report {
            url: setup.url,
            body: setup.body,
            protocol: setup.protocol,
            mode: if setup.rate.is_some() { "open" } else { "closed" },
            concurrency: setup.concurrency,
            rate: setup.rate,
            seconds,
            requests: answered + no_answer,
            ok,
            requests_per_second: if seconds > 0.0 { answered as f64 / seconds } else { 0.0 },
            latency_micros: Latency {
                mean: if h.is_empty() { 0.0 } else { h.mean() },
                p50: pct(0.5),
                p90: pct(0.9),
                p99: pct(0.99),
                p999: pct(0.999),
                max: if h.is_empty() { 0 } else { h.max() },
            },
            errors: Errors {
                total: answered - ok + no_answer,
                by_status: tally
                    .by_status
                    .iter()
                    .filter(|(s, _)| !(200..300).contains(*s))
                    .map(|(s, n)| (s.to_string(), *n))
                    .collect(),
                transport: tally.transport.clone(),
            },
        }
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let l = &self.latency_micros;
        let mut out = format!(
            "{url} ({body}, {protocol}, {mode} loop, concurrency {c}{rate})\n\
             {requests} requests in {secs:.2}s: {rps:.1} req/s, {ok} ok, {errs} errors\n\
             latency µs: mean {mean:.0}  p50 {p50}  p90 {p90}  p99 {p99}  p99.9 {p999}  max {max}\n",
            url = self.url,
            body = self.body,
            protocol = self.protocol,
            mode = self.mode,
            c = self.concurrency,
            rate = self.rate.map(|r| format!(", {r} req/s offered")).unwrap_or_default(),
            requests = self.requests,
            secs = self.seconds,
            rps = self.requests_per_second,
            ok = self.ok,
            errs = self.errors.total,
            mean = l.mean,
            p50 = l.p50,
            p90 = l.p90,
            p99 = l.p99,
            p999 = l.p999,
            max = l.max,
        );
        for (status, n) in &self.errors.by_status {
            out.push_str(&format!("  status {status}: {n}\n"));
        }
        for (kind, n) in &self.errors.transport {
            out.push_str(&format!("  no answer ({kind}): {n}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up() {
        let mut a = Tally::new();
        a.answer(200, Duration::from_micros(100));
        a.answer(200, Duration::from_micros(300));
        let mut b = Tally::new();
        b.answer(401, Duration::from_micros(50));
        b.failure("timeout");
        a.merge(b);
        let setup = Setup {
            url: "https://localhost:8443/x".into(),
            body: "seed-json",
            protocol: "http/1.1",
            concurrency: 2,
            rate: None,
        };
        let r = Report::new(setup, &a, Duration::from_secs(2));
        assert_eq!((r.requests, r.ok, r.errors.total), (4, 2, 2));
        assert_eq!(r.errors.by_status["401"], 1);
        assert_eq!(r.errors.transport["timeout"], 1);
        assert_eq!(r.requests_per_second, 1.5);
        assert!(r.latency_micros.max >= 299 && r.latency_micros.p50 >= 99, "{r:?}");
        assert!(r.text().contains("status 401: 1"));
    }
}
