//! Quota pacing: never more requests in a rolling minute or day than the tier allows.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::{Clock, Instant};
use crate::Limits;

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// Waits end this much after the window frees, so that a server counting the window's edge
/// as still inside it does not answer 204.
const EDGE_MARGIN: Duration = Duration::from_millis(250);

/// A sliding-window log of the requests sent: with a limit of N a window, request N+1 waits
/// until the oldest of the last N leaves the window. A steady run therefore sends exactly N
/// requests a window, never N+1.
#[derive(Debug)]
pub(crate) struct Pacer {
    per_minute: Option<u32>,
    per_day: Option<u32>,
    sent: Mutex<VecDeque<Instant>>,
}

/// How much of the daily quota is left, as far as this client has counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuotaStatus {
    /// Requests sent in the last 24 hours.
    pub used_today: u32,
    /// The daily limit, if any.
    pub per_day: Option<u32>,
    /// When the oldest request of the last 24 hours leaves the window (a request is freed).
    pub next_release: Option<Instant>,
}

impl Pacer {
    pub(crate) fn new(limits: &Limits) -> Pacer {
        Pacer {
            per_minute: limits.per_minute.filter(|&n| n > 0),
            per_day: limits.per_day.filter(|&n| n > 0),
            sent: Mutex::new(VecDeque::new()),
        }
    }

    fn is_unlimited(&self) -> bool {
        self.per_minute.is_none() && self.per_day.is_none()
    }

    /// Waits until one more request fits in every window, then counts it as sent.
    pub(crate) async fn acquire(&self, clock: &dyn Clock) {
        if self.is_unlimited() {
            return;
        }
        loop {
            let wait = {
                let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
                let now = clock.now();
                while sent
                    .front()
                    .is_some_and(|&t| now.saturating_duration_since(t) >= DAY)
                {
                    sent.pop_front();
                }
                let wait = [(self.per_minute, MINUTE), (self.per_day, DAY)]
                    .into_iter()
                    .filter_map(|(limit, window)| Some((limit? as usize, window)))
                    .filter_map(|(limit, window)| {
                        // The limit-th most recent request decides when one more fits.
                        let decisive = *sent.iter().rev().nth(limit - 1)?;
                        let free_at = decisive + window + EDGE_MARGIN;
                        (free_at > now).then(|| free_at - now)
                    })
                    .max();
                if wait.is_none() {
                    sent.push_back(now);
                }
                wait
            };
            match wait {
                None => return,
                Some(wait) => {
                    tracing::info!(
                        wait_ms = wait.as_millis() as u64,
                        "pacing: waiting for the quota window"
                    );
                    clock.sleep(wait).await;
                }
            }
        }
    }

    pub(crate) fn status(&self, clock: &dyn Clock) -> QuotaStatus {
        let sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let now = clock.now();
        let today: Vec<Instant> = sent
            .iter()
            .copied()
            .filter(|&t| now.saturating_duration_since(t) < DAY)
            .collect();
        QuotaStatus {
            used_today: today.len() as u32,
            per_day: self.per_day,
            next_release: today.first().map(|&t| t + DAY),
        }
    }
}
