//! The audit log's writer: entries are written in batches by one task, so that answering a
//! client never waits for the store.

use std::time::Duration;

use tokio::sync::mpsc;

use crate::store::{AuditEntry, Store};

/// Entries waiting to be written at most; beyond, new ones are dropped (and said in the log).
const QUEUE: usize = 100_000;
/// How often the queue is written.
const EVERY: Duration = Duration::from_millis(100);
/// The most entries one write carries.
const BATCH: usize = 2_000;

/// Where request handlers put their audit entries.
#[derive(Debug, Clone)]
pub(crate) struct AuditLog {
    entries: mpsc::Sender<AuditEntry>,
}

impl AuditLog {
    /// Starts the writer; it ends, having written everything, when every `AuditLog` is gone.
    pub(crate) fn start(store: Store) -> (AuditLog, tokio::task::JoinHandle<()>) {
        let (entries, mut queue) = mpsc::channel::<AuditEntry>(QUEUE);
        let writer = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                let open = queue.recv_many(&mut batch, BATCH).await > 0;
                if !open {
                    break;
                }
                if let Err(error) = store.record(std::mem::take(&mut batch)).await {
                    tracing::error!(%error, "audit entries not written");
                }
                if queue.len() < BATCH {
                    tokio::time::sleep(EVERY).await;
                }
            }
        });
        (AuditLog { entries }, writer)
    }

    pub(crate) fn record(&self, entry: AuditEntry) {
        if let Err(mpsc::error::TrySendError::Full(entry)) = self.entries.try_send(entry) {
            tracing::error!(token = %entry.token, endpoint = %entry.endpoint, "audit queue full: entry dropped");
        }
    }
}
