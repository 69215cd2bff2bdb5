//! The counters behind `GET /metrics`, in Prometheus's text format (version 0.0.4).
//!
//! A handful of counters and one histogram, written by hand: the format is a few lines of
//! text, and no metrics crate would save more than it costs (docs/design.md).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use vt_api::RawAnswer;

use crate::lane::Failure;

/// The upper bounds of the coalesced batch size histogram's buckets.
const BATCH_BUCKETS: [usize; 6] = [1, 2, 4, 8, 16, 25];

/// What the gateway counts.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Requests answered, by endpoint and outcome.
    /// Endpoint → outcome → requests (by endpoint first: a request finds its row without
    /// making a key of its own).
    requests: Mutex<BTreeMap<String, BTreeMap<&'static str, u64>>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    stale_served: AtomicU64,
    single_flight: AtomicU64,
    upstream_batches: AtomicU64,
    upstream_attempts: AtomicU64,
    upstream_held_by_204: AtomicU64,
    upstream_quota_refusals: AtomicU64,
    relayed: AtomicU64,
    batch_sizes: [AtomicU64; BATCH_BUCKETS.len() + 1],
    batch_size_sum: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    pub(crate) fn request(&self, endpoint: &str, outcome: &'static str) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let outcomes = match requests.get_mut(endpoint) {
            Some(outcomes) => outcomes,
            None => requests.entry(endpoint.to_owned()).or_default(),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }

    pub(crate) fn cache(&self, hits: usize, misses: usize) {
        add(&self.cache_hits, hits as u64);
        add(&self.cache_misses, misses as u64);
    }

    pub(crate) fn stale(&self, served: usize) {
        add(&self.stale_served, served as u64);
    }

    pub(crate) fn single_flight(&self) {
        add(&self.single_flight, 1);
    }

    pub(crate) fn relayed(&self) {
        add(&self.relayed, 1);
    }

    pub(crate) fn upstream_batch(&self, size: usize) {
        add(&self.upstream_batches, 1);
        add(&self.batch_size_sum, size as u64);
        let bucket = BATCH_BUCKETS
            .iter()
            .position(|&bound| size <= bound)
            .unwrap_or(BATCH_BUCKETS.len());
        add(&self.batch_sizes[bucket], 1);
    }

    pub(crate) fn upstream_answers<T>(&self, answers: &[(String, Result<RawAnswer<T>, Failure>)]) {
        let refused = answers
            .iter()
            .filter(|(_, r)| matches!(r, Err(Failure::Quota)))
            .count();
        add(&self.upstream_quota_refusals, refused as u64);
    }

    /// What vt-api's client did upstream.
    pub(crate) fn event(&self, event: &vt_api::Event) {
        match event {
            vt_api::Event::Sending { .. } => add(&self.upstream_attempts, 1),
            vt_api::Event::HeldBy204 { .. } => add(&self.upstream_held_by_204, 1),
            _ => {}
        }
    }

    /// The text of `GET /metrics`; `quota_used` is the upstream key's count of the last 24
    /// hours, as the pacer sees it.
    pub(crate) fn render(&self, quota_used: u32, quota_per_day: Option<u32>) -> String {
        let mut out = String::new();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        out.push_str(
            "# HELP vt_gateway_requests_total Requests answered, by endpoint and outcome.\n",
        );
        out.push_str("# TYPE vt_gateway_requests_total counter\n");
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let rows = requests.iter().flat_map(|(endpoint, outcomes)| {
            outcomes
                .iter()
                .map(move |(outcome, n)| (endpoint, outcome, n))
        });
        for (endpoint, outcome, n) in rows {
            let _ = writeln!(
                out,
                "vt_gateway_requests_total{{endpoint=\"{}\",outcome=\"{outcome}\"}} {n}",
                label(endpoint)
            );
        }
        let counters: [(&str, &str, u64); 8] = [
            (
                "vt_gateway_cache_hits_total",
                "Lookups answered from the cache.",
                load(&self.cache_hits),
            ),
            (
                "vt_gateway_cache_misses_total",
                "Lookups the cache could not answer fresh.",
                load(&self.cache_misses),
            ),
            (
                "vt_gateway_stale_served_total",
                "Lookups answered from a stale cache entry because the upstream could not answer.",
                load(&self.stale_served),
            ),
            (
                "vt_gateway_single_flight_total",
                "Lookups that joined the same question already pending or in flight.",
                load(&self.single_flight),
            ),
            (
                "vt_gateway_upstream_batches_total",
                "Coalesced lookup batches sent upstream.",
                load(&self.upstream_batches),
            ),
            (
                "vt_gateway_upstream_requests_total",
                "Requests sent upstream (every attempt, lookups and relayed).",
                load(&self.upstream_attempts),
            ),
            (
                "vt_gateway_upstream_204_holds_total",
                "Times a request waited on a 204 hold of the upstream key.",
                load(&self.upstream_held_by_204),
            ),
            (
                "vt_gateway_relayed_total",
                "Requests relayed upstream as they came (non-lookup endpoints).",
                load(&self.relayed),
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP vt_gateway_upstream_quota_refusals_total Lookups refused for want of upstream quota (answered 204 or stale).\n\
             # TYPE vt_gateway_upstream_quota_refusals_total counter\n\
             vt_gateway_upstream_quota_refusals_total {}",
            load(&self.upstream_quota_refusals)
        );
        out.push_str(
            "# HELP vt_gateway_coalesced_batch_size Queries in each upstream lookup batch.\n",
        );
        out.push_str("# TYPE vt_gateway_coalesced_batch_size histogram\n");
        let mut cumulative = 0;
        for (i, bound) in BATCH_BUCKETS.iter().enumerate() {
            cumulative += load(&self.batch_sizes[i]);
            let _ = writeln!(
                out,
                "vt_gateway_coalesced_batch_size_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += load(&self.batch_sizes[BATCH_BUCKETS.len()]);
        let _ = writeln!(
            out,
            "vt_gateway_coalesced_batch_size_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            out,
            "vt_gateway_coalesced_batch_size_sum {}",
            load(&self.batch_size_sum)
        );
        let _ = writeln!(out, "vt_gateway_coalesced_batch_size_count {cumulative}");
        let _ = writeln!(
            out,
            "# HELP vt_gateway_quota_used Upstream requests counted in the last 24 hours.\n\
             # TYPE vt_gateway_quota_used gauge\nvt_gateway_quota_used {quota_used}"
        );
        if let Some(per_day) = quota_per_day {
            let _ = writeln!(
                out,
                "# HELP vt_gateway_quota_per_day The upstream key's daily limit.\n\
                 # TYPE vt_gateway_quota_per_day gauge\nvt_gateway_quota_per_day {per_day}"
            );
        }
        out
    }
}

/// A label value escaped as the format asks (backslash, quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
