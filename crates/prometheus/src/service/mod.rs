//! The `/metrics` endpoint as a tower service.
//!
//! [`MetricsService`] answers `GET` (and `HEAD`) with the Prometheus text
//! format and counts the scrapes it serves, which is what
//! [`PrometheusMetrics::linger`](crate::PrometheusMetrics::linger) waits for.
//! It is a plain `Service<http::Request<B>>` with `Error = Infallible`, so it
//! mounts on an axum router and works under plain hyper.
//!
//! # Examples
//!
//! ```
//! use axum::{Router, routing::get};
//! use winddown_prometheus::PrometheusMetrics;
//!
//! let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .route_service("/metrics", metrics.service());
//! # let _ = app;
//! ```

mod body;

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use tower_service::Service;

use crate::PrometheusMetrics;

pub use body::MetricsBody;

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves the Prometheus text format; see the [module docs](self).
///
/// Made with [`PrometheusMetrics::service`]. Any other method than `GET` or
/// `HEAD` gets `405 Method Not Allowed`.
#[derive(Debug, Clone)]
pub struct MetricsService {
    metrics: PrometheusMetrics,
}

impl MetricsService {
    /// A service rendering `metrics`; the same as
    /// [`PrometheusMetrics::service`].
    ///
    /// ```
    /// use http::{Request, StatusCode};
    /// use http_body_util::{BodyExt, Empty};
    /// use tower::ServiceExt;
    /// use winddown_prometheus::{MetricsService, PrometheusMetrics};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let (recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// metrics::with_local_recorder(&recorder, || metrics::gauge!("queue_depth").set(7));
    ///
    /// let service = MetricsService::new(metrics.clone());
    /// let request = Request::get("/metrics").body(Empty::<bytes::Bytes>::new()).unwrap();
    /// let response = service.clone().oneshot(request).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::OK);
    /// let text = response.into_body().collect().await.unwrap().to_bytes();
    /// assert!(std::str::from_utf8(&text).unwrap().contains("queue_depth 7"));
    ///
    /// let request = Request::post("/metrics").body(Empty::<bytes::Bytes>::new()).unwrap();
    /// let response = service.oneshot(request).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    /// assert_eq!(response.headers()["allow"], "GET, HEAD");
    /// # }
    /// ```
    pub const fn new(metrics: PrometheusMetrics) -> Self {
        MetricsService { metrics }
    }

    /// The metrics handle it renders.
    ///
    /// ```
    /// use winddown_prometheus::PrometheusMetrics;
    ///
    /// let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    /// let service = metrics.service();
    /// assert_eq!(service.get_ref().scrapes(), 0);
    /// ```
    pub fn get_ref(&self) -> &PrometheusMetrics {
        &self.metrics
    }
}

impl<B> Service<Request<B>> for MetricsService {
    type Response = Response<MetricsBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<MetricsBody>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let method = request.method();
        if method != Method::GET && method != Method::HEAD {
            let mut response = Response::new(MetricsBody::empty());
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return ready(Ok(response));
        }
        let shared = &self.metrics.shared;
        let late = shared.scrapes.starting();
        let text = Bytes::from(shared.render());
        let length = HeaderValue::from(text.len());
        let body = if method == Method::HEAD {
            MetricsBody::empty()
        } else {
            MetricsBody::scrape(text, shared.clone(), late)
        };
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
        headers.insert(CONTENT_LENGTH, length);
        ready(Ok(response))
    }
}
