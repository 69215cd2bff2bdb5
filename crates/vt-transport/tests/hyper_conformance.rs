//! The backend conformance suite (`vt_transport::conformance`) against `HyperTransport`.
//! The same suite runs against a ureq backend in the `vt-tests` package.

use std::sync::Arc;

use vt_transport::conformance::{Check, Options, Suite};
use vt_transport::{HyperTransport, Transport};

fn hyper_transport(options: &Options) -> HyperTransport {
    HyperTransport::builder()
        .connect_timeout(options.connect_timeout)
        .request_timeout(options.request_timeout)
        .max_body_size(options.max_body_size)
        .build()
        .expect("a hyper transport")
}

fn hyper_backend(options: &Options) -> Arc<dyn Transport> {
    Arc::new(hyper_transport(options))
}

#[tokio::test]
async fn hyper_transport_passes_every_conformance_check() {
    Suite::new(hyper_backend)
        .with_streaming_timeouts()
        .run_all()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_transport_passes_on_a_multi_threaded_runtime() {
    // Timeouts, the body cap and error kinds must not depend on the runtime flavour. Not
    // KeepAlive: there hyper-util's pool may race a second connection against the first one's
    // return to the pool (see `Check::KeepAlive`).
    let suite = Suite::new(hyper_backend);
    for &check in Check::ALL {
        if check != Check::KeepAlive {
            suite.run(check).await.unwrap();
        }
    }
}

/// A backend that breaks the contract on purpose: it turns every status into 200 and every
/// error into `ErrorKind::Other`. The suite must notice, check by check. It implements `send`
/// alone, so its streaming calls go through the trait's default implementation (over the
/// broken `send`).
#[derive(Debug)]
struct Broken(HyperTransport);

#[vt_transport::async_trait]
impl Transport for Broken {
    async fn send(
        &self,
        request: http::Request<vt_transport::Bytes>,
    ) -> Result<http::Response<vt_transport::Bytes>, vt_transport::Error> {
        match self.0.send(request).await {
            Ok(mut response) => {
                *response.status_mut() = http::StatusCode::OK;
                Ok(response)
            }
            Err(error) => Err(vt_transport::Error::new(
                vt_transport::ErrorKind::Other,
                error,
            )),
        }
    }
}

#[tokio::test]
async fn the_suite_catches_a_backend_that_breaks_the_contract() {
    let suite = Suite::new(|options: &Options| -> Arc<dyn Transport> {
        Arc::new(Broken(hyper_transport(options)))
    });
    let failures = suite.run_all().await.unwrap_err();
    let failed: Vec<Check> = failures.0.iter().map(|f| f.check).collect();
    assert_eq!(
        failed,
        [
            Check::Statuses,
            Check::ConnectionRefused,
            Check::Timeout,
            Check::TruncatedBody,
            Check::ClosedMidBody,
            Check::BodyCap,
            Check::StreamingBodyCap,
        ],
        "{failures}"
    );
}
