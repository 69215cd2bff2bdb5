//! The counters behind `GET /metrics`, in Prometheus's text format (version 0.0.4).
//!
//! A handful of counters and one histogram, written by hand: the format is a few lines of
//! text, and no metrics crate would save more than it costs (docs/design.md).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use vt_api::RawAnswer;
use vt_server::routes::ROUTES;

use crate::lane::Failure;

/// The upper bounds of the coalesced batch size histogram's buckets.
const BATCH_BUCKETS: [usize; 6] = [1, 2, 4, 8, 16, 25];

/// How a request was answered, for the metrics and the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every answer from the cache, fresh.
    Cache,
    /// Every answer from the service.
    Upstream,
    /// Some of each.
    Mixed,
    /// At least one stale answer.
    Stale,
    /// Relayed upstream as it came.
    Relayed,
    /// Refused: unknown token, or a right it lacks.
    Forbidden,
    /// Answered 204: the token's daily limit or share, or the key's quota.
    Quota,
    /// Not answered: the store or the service failed.
    Error,
    /// Not answered: the client hung up first.
    Cancelled,
}

impl Outcome {
    const ALL: [Outcome; 9] = [
        Outcome::Cache,
        Outcome::Upstream,
        Outcome::Mixed,
        Outcome::Stale,
        Outcome::Relayed,
        Outcome::Forbidden,
        Outcome::Quota,
        Outcome::Error,
        Outcome::Cancelled,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Cache => "cache",
            Outcome::Upstream => "upstream",
            Outcome::Mixed => "mixed",
            Outcome::Stale => "stale",
            Outcome::Relayed => "relayed",
            Outcome::Forbidden => "forbidden",
            Outcome::Quota => "quota",
            Outcome::Error => "error",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// Requests answered, by route (its index in [`ROUTES`]) and outcome: a counter each,
/// counted without a lock.
#[derive(Debug)]
struct Requests([[AtomicU64; Outcome::ALL.len()]; ROUTES.len()]);

impl Default for Requests {
    fn default() -> Self {
        Requests(std::array::from_fn(|_| {
            std::array::from_fn(|_| AtomicU64::new(0))
        }))
    }
}

/// What the gateway counts.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    requests: Requests,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    stale_served: AtomicU64,
    single_flight: AtomicU64,
    upstream_batches: AtomicU64,
    upstream_attempts: AtomicU64,
    upstream_204s: AtomicU64,
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
    /// A request of the route at `route` in [`ROUTES`] answered.
    pub(crate) fn request(&self, route: usize, outcome: Outcome) {
        if let Some(outcomes) = self.requests.0.get(route) {
            add(&outcomes[outcome as usize], 1);
        }
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
            vt_api::Event::Answered204 { .. } => add(&self.upstream_204s, 1),
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
        // By endpoint, then outcome, in the order of their names; only what happened.
        let mut routes: Vec<usize> = (0..ROUTES.len()).collect();
        routes.sort_by_key(|&i| ROUTES[i].path);
        let mut outcomes = Outcome::ALL;
        outcomes.sort_by_key(|o| o.as_str());
        for route in routes {
            for outcome in outcomes {
                let n = load(&self.requests.0[route][outcome as usize]);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "vt_gateway_requests_total{{endpoint=\"{}\",outcome=\"{}\"}} {n}",
                        label(ROUTES[route].path),
                        outcome.as_str()
                    );
                }
            }
        }
        let counters: [(&str, &str, u64); 9] = [
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
                "vt_gateway_upstream_204_total",
                "204 answers of the service although paced (the key's quota spent elsewhere, or \
                 smaller than configured): each holds the key.",
                load(&self.upstream_204s),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_endpoint_and_outcome_in_the_order_of_their_names() {
        // The table is indexed by an outcome's discriminant.
        for (i, outcome) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*outcome as usize, i, "{outcome:?}");
        }
        let metrics = Metrics::default();
        let route = |path| ROUTES.iter().position(|r| r.path == path).unwrap();
        metrics.request(route("url/report"), Outcome::Cache);
        metrics.request(route("file/report"), Outcome::Upstream);
        metrics.request(route("file/report"), Outcome::Cache);
        metrics.request(route("file/report"), Outcome::Cache);
        let text = metrics.render(0, None);
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("vt_gateway_requests_total{"))
            .collect();
        assert_eq!(
            rows,
            [
                r#"vt_gateway_requests_total{endpoint="file/report",outcome="cache"} 2"#,
                r#"vt_gateway_requests_total{endpoint="file/report",outcome="upstream"} 1"#,
                r#"vt_gateway_requests_total{endpoint="url/report",outcome="cache"} 1"#,
            ]
        );
    }
}
