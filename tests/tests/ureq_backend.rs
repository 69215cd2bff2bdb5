//! The transport conformance suite, written once in `vt_transport::conformance`, run against a
//! second backend built outside vt-transport ([`vt_tests::UreqTransport`]), to prove that
//! backends really swap. `crates/vt-transport/tests/hyper_conformance.rs` runs the same suite
//! against `HyperTransport`.

use std::sync::Arc;

use vt_tests::UreqTransport;
use vt_transport::conformance::{Options, Suite};
use vt_transport::Transport;

fn ureq_backend(options: &Options) -> Arc<dyn Transport> {
    Arc::new(UreqTransport::new(
        options.connect_timeout,
        options.request_timeout,
        options.max_body_size,
    ))
}

#[tokio::test]
async fn ureq_transport_passes_every_conformance_check() {
    Suite::new(ureq_backend).run_all().await.unwrap();
}
