//! gRPC services on tonic drain like HTTP ones.
//!
//! - [`drain_layer`]: winddown's [`DrainLayer`] with the gRPC health
//!   service exempt. Calls are served while announcing; from draining on a
//!   new call is refused with a trailers-only `grpc-status: 14`
//!   (`UNAVAILABLE`), which gRPC clients retry on another server, while the
//!   calls in flight finish (until the drain timeout; a stream still open
//!   then ends with `UNAVAILABLE` trailers). Health checks are
//!   answered until the sequence is done and do not hold the drain open.
//! - [`health_reporter`]: tonic-health's `grpc.health.v1.Health` service
//!   and its reporter, with one change: from the trigger on, every service
//!   the reporter marked serving, and the server as a whole (`""`), is
//!   reported `NOT_SERVING`, so Kubernetes gRPC probes and client-side
//!   balancers move away during the announce delay. `Watch` streams get the
//!   change at once and end when the sequence is done.
//!
//! The layer works on any tonic server stack: `tonic::transport::Server`
//! (`Server::builder().layer(drain_layer(..))`) or winddown's own server
//! with a tonic `Routes`.
//!
//! | state | `Check` / `Watch` | other calls |
//! |---|---|---|
//! | running | as reported | served |
//! | announcing | `NOT_SERVING` | served |
//! | draining, cleanup | `NOT_SERVING` | `UNAVAILABLE`; the calls in flight finish |
//! | done | `Watch` streams end | — |
//!
//! # Examples
//!
//! A tonic server with the layer and the health service, and a health
//! check by a tonic client before and after the trigger:
//!
//! ```
//! use std::time::Duration;
//! use tonic::transport::server::TcpIncoming;
//! use tonic::transport::{Channel, Server};
//! use tonic_health::pb::HealthCheckRequest;
//! use tonic_health::pb::health_check_response::ServingStatus;
//! use tonic_health::pb::health_client::HealthClient;
//! use winddown_core::Shutdown;
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let shutdown = Shutdown::builder()
//!     .no_signals()
//!     .announce_delay(Duration::ZERO)
//!     .build();
//! let (reporter, health) = winddown_grpc::health_reporter(&shutdown);
//! // reporter.set_serving::<MyServer<MyService>>().await; for each service
//! # drop(reporter);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("http://{}", listener.local_addr()?);
//! let server = Server::builder()
//!     .layer(winddown_grpc::drain_layer(shutdown.clone()))
//!     .add_service(health)
//!     // .add_service(MyServer::new(MyService))
//!     .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown.done());
//!
//! let client = tokio::spawn({
//!     let shutdown = shutdown.clone();
//!     async move {
//!         let channel = Channel::from_shared(url)?.connect().await?;
//!         let mut health = HealthClient::new(channel);
//!         let mut check = async || {
//!             let request = HealthCheckRequest { service: String::new() };
//!             let answer = health.check(request).await?.into_inner();
//!             Ok::<_, tonic::Status>(answer.status())
//!         };
//!         assert_eq!(check().await?, ServingStatus::Serving);
//!         // Held in flight, so the drain waits for this task's last check.
//!         let _work = shutdown.in_flight_guard();
//!         shutdown.trigger();
//!         assert_eq!(check().await?, ServingStatus::NotServing);
//!         Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//!     }
//! });
//! let report = shutdown.run_until(server).await;
//! client.await?.map_err(|e| e.to_string())?;
//! assert_eq!(report.exit_code(), 0);
//! # Ok(())
//! # }
//! ```

mod health;

use winddown_core::Shutdown;
use winddown_http::DrainLayer;

pub use health::{DrainingHealth, WatchStream, health_reporter};
/// The tonic-health this crate builds on, for its `ServingStatus` and
/// protobuf types at the matching version.
pub use tonic_health;

/// The path of `grpc.health.v1.Health/Check`.
pub const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// The path of `grpc.health.v1.Health/Watch`.
pub const HEALTH_WATCH_PATH: &str = "/grpc.health.v1.Health/Watch";

/// A [`DrainLayer`] for a gRPC server: the default settings, with the
/// health service's [`Check`](HEALTH_CHECK_PATH) and
/// [`Watch`](HEALTH_WATCH_PATH) exempt, so that probes and balancers keep
/// getting answers until the sequence is done and a `Watch` stream never
/// holds the drain open.
///
/// gRPC calls are `POST`s, so the health paths are exempt through a
/// predicate ([`DrainLayer::exempt_if`]) that matches them exactly with the
/// `POST` method, not through the exempt paths, which are for `GET`/`HEAD`
/// probes. Configure it further like any [`DrainLayer`]. gRPC calls it
/// refuses get a trailers-only `grpc-status: 14` (`UNAVAILABLE`); see
/// [`winddown_http::drain`].
///
/// ```
/// use winddown_core::Shutdown;
///
/// let shutdown = Shutdown::builder().no_signals().build();
/// let layer = winddown_grpc::drain_layer(shutdown).exempt_path("/admin/stats");
/// assert_eq!(
///     layer.exempt_path_list(),
///     ["/healthz", "/readyz", "/metrics", "/admin/stats"]
/// );
/// ```
pub fn drain_layer(shutdown: Shutdown) -> DrainLayer {
    DrainLayer::new(shutdown).exempt_if(|head| {
        head.method == http::Method::POST
            && matches!(head.uri.path(), HEALTH_CHECK_PATH | HEALTH_WATCH_PATH)
    })
}
