//! Blocking work off the async runtime: the SQLite cache and a quota ledger may wait seconds
//! for another process's lock (or a database), which must never hold up a tokio worker of a
//! service embedding vt-api; and a ledger may itself block on the runtime
//! (`Handle::block_on`), which is legal on the blocking pool only.

/// Runs `work` on tokio's blocking pool when there is a runtime, else right here.
pub(crate) async fn run<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => match runtime.spawn_blocking(work).await {
            Ok(done) => done,
            // A panic in the work is a bug: let it reach the caller, as it would inline.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // The runtime is shutting down, and this future with it: it is never polled again.
            Err(_) => std::future::pending().await,
        },
        Err(_) => work(),
    }
}
