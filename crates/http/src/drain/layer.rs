use std::sync::Arc;
use std::time::Duration;

use http::Method;
use http::request::Parts;
use tower::Layer;
use winddown_core::{RequestGate, Shutdown};

use super::Drain;
use super::exempt::Exempt;

/// The `Retry-After` sent with 503s when none is configured.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Settings shared by every clone of a [`Drain`] service, with the shutdown
/// handle and its request gate. A request in flight keeps none of it: only
/// its admission (and, to answer a 503 if it is abandoned, `retry_secs`).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) shutdown: Shutdown,
    pub(crate) gate: RequestGate,
    pub(crate) retry_after: Duration,
    /// `Retry-After` in whole seconds.
    pub(crate) retry_secs: u64,
    pub(crate) exempt: Exempt,
}

impl Config {
    fn new(shutdown: Shutdown, retry_after: Duration, exempt: Exempt) -> Self {
        // Retry-After carries whole seconds: round up so clients never come
        // back earlier than asked (saturating: `Duration::MAX` is u64::MAX s).
        let retry_secs = retry_after
            .as_secs()
            .saturating_add(u64::from(retry_after.subsec_nanos() > 0));
        Config {
            gate: shutdown.request_gate(),
            shutdown,
            retry_after,
            retry_secs,
            exempt,
        }
    }
}

/// Applies [`Drain`] to a service: drains HTTP traffic when the
/// [`Shutdown`] is triggered.
///
/// By default `Retry-After` is 5 seconds and `GET` and `HEAD` requests for
/// `/healthz`, `/readyz` and `/metrics` are exempt. See the
/// [module docs](super) for the behaviour in each state.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use winddown_core::Shutdown;
/// use winddown_http::DrainLayer;
///
/// let shutdown = Shutdown::builder().no_signals().build();
/// let layer = DrainLayer::new(shutdown)
///     .retry_after(Duration::from_secs(10))
///     .exempt_paths(["/livez", "/readyz", "/metrics"])
///     .exempt_if(|head| head.headers.contains_key("x-internal-probe"));
/// assert_eq!(layer.exempt_path_list(), ["/livez", "/readyz", "/metrics"]);
/// assert_eq!(layer.exempt_method_list(), [http::Method::GET, http::Method::HEAD]);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct DrainLayer {
    config: Arc<Config>,
}

impl DrainLayer {
    /// A layer draining on `shutdown`, with the default settings.
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::Shutdown;
    /// use winddown_http::DrainLayer;
    ///
    /// let layer = DrainLayer::new(Shutdown::builder().no_signals().build());
    /// assert_eq!(layer.retry_after_duration(), Duration::from_secs(5));
    /// assert_eq!(layer.exempt_path_list(), ["/healthz", "/readyz", "/metrics"]);
    /// ```
    pub fn new(shutdown: Shutdown) -> Self {
        DrainLayer {
            config: Arc::new(Config::new(
                shutdown,
                DEFAULT_RETRY_AFTER,
                Exempt::default(),
            )),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The `Retry-After` of 503 responses (default 5 s). It is sent in whole
    /// seconds, rounded up; any duration is accepted (`Duration::MAX` is
    /// sent as 18446744073709551615).
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use bytes::Bytes;
    /// # use http::{Request, Response, StatusCode};
    /// # use http_body_util::Full;
    /// # use tower::{Layer, ServiceExt, service_fn};
    /// # use winddown_core::Shutdown;
    /// # use winddown_http::DrainLayer;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// # let hello = service_fn(|_req: Request<Full<Bytes>>| async {
    /// #     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
    /// # });
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let service = DrainLayer::new(shutdown.clone())
    ///     .retry_after(Duration::from_millis(1500))
    ///     .layer(hello);
    ///
    /// # shutdown.trigger();
    /// # tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// shutdown.draining().await;
    /// let response = service.oneshot(Request::new(Full::default())).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    /// assert_eq!(response.headers()["retry-after"], "2"); // rounded up
    /// # }
    /// ```
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        let shutdown = self.config.shutdown.clone();
        let exempt = self.config.exempt.clone();
        *self.config_mut() = Config::new(shutdown, retry_after, exempt);
        self
    }

    /// Replaces the exempt paths (default `/healthz`, `/readyz`, `/metrics`).
    ///
    /// Exempt requests are served in every state and are not counted in
    /// flight. A path matches only when it is exactly equal to the request's
    /// `uri.path()`: no prefixes, no decoding, no normalisation; and only for
    /// the [exempt methods](Self::exempt_methods) (`GET` and `HEAD` by
    /// default). Pass an empty list to exempt nothing by path.
    ///
    /// Exemption only lets the request through to the service: an exempt
    /// path the application does not route reaches its fallback (in axum,
    /// the `404` or whatever `Router::fallback` does), in every state. List
    /// only paths the application serves.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use bytes::Bytes;
    /// # use http::{Request, Response, StatusCode};
    /// # use http_body_util::Full;
    /// # use tower::{Layer, ServiceExt, service_fn};
    /// # use winddown_core::Shutdown;
    /// # use winddown_http::DrainLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// # let hello = service_fn(|_req: Request<Full<Bytes>>| async {
    /// #     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
    /// # });
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let service = DrainLayer::new(shutdown.clone())
    ///     .exempt_paths(["/livez", "/ready"])
    ///     .layer(hello);
    ///
    /// # shutdown.trigger();
    /// # tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// shutdown.draining().await;
    /// let get = |path| Request::get(path).body(Full::default()).unwrap();
    /// let response = service.clone().oneshot(get("/ready")).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::OK);
    /// // No longer exempt: the list was replaced.
    /// let response = service.oneshot(get("/healthz")).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    /// # }
    /// ```
    pub fn exempt_paths<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.config_mut().exempt.set_paths(paths);
        self
    }

    /// Adds one exempt path to the list.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_http::DrainLayer;
    ///
    /// let layer = DrainLayer::new(Shutdown::builder().no_signals().build())
    ///     .exempt_path("/startupz");
    /// assert_eq!(layer.exempt_path_list(), ["/healthz", "/readyz", "/metrics", "/startupz"]);
    /// ```
    pub fn exempt_path(mut self, path: impl Into<String>) -> Self {
        self.config_mut().exempt.add_path(path);
        self
    }

    /// The methods for which the exempt paths are exempt (default `GET` and
    /// `HEAD`, what probes and scrapers send). Any other method on an exempt
    /// path is drained like any other request, so a `POST /metrics` cannot
    /// reach a state-changing handler once draining. An empty list exempts
    /// nothing by path.
    ///
    /// ```
    /// use http::Method;
    /// use winddown_core::Shutdown;
    /// use winddown_http::DrainLayer;
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// // A probe that is POSTed to, on top of the defaults.
    /// let layer = DrainLayer::new(shutdown)
    ///     .exempt_methods([Method::GET, Method::HEAD, Method::POST]);
    /// assert_eq!(layer.exempt_method_list(), [Method::GET, Method::HEAD, Method::POST]);
    /// ```
    pub fn exempt_methods<I>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = Method>,
    {
        self.config_mut().exempt.set_methods(methods);
        self
    }

    /// Exempts the requests for which `predicate` returns `true`, in
    /// addition to the exempt paths, whatever their method (the predicate
    /// sees it in the head). Predicates added by several calls are
    /// alternatives: any one of them exempts a request.
    ///
    /// ```
    /// # use std::convert::Infallible;
    /// # use bytes::Bytes;
    /// # use http::{Request, Response, StatusCode};
    /// # use http_body_util::Full;
    /// # use tower::{Layer, ServiceExt, service_fn};
    /// # use winddown_core::Shutdown;
    /// # use winddown_http::DrainLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// # let hello = service_fn(|_req: Request<Full<Bytes>>| async {
    /// #     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
    /// # });
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let service = DrainLayer::new(shutdown.clone())
    ///     .exempt_if(|head| head.headers.contains_key("x-internal-probe"))
    ///     .layer(hello);
    ///
    /// # shutdown.trigger();
    /// # tokio::spawn({ let s = shutdown.clone(); async move { s.run().await } });
    /// shutdown.draining().await;
    /// let probe = Request::post("/jobs").header("x-internal-probe", "1").body(Full::default());
    /// let response = service.clone().oneshot(probe.unwrap()).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::OK);
    /// let other = Request::post("/jobs").body(Full::default());
    /// let response = service.oneshot(other.unwrap()).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    /// # }
    /// ```
    pub fn exempt_if<F>(mut self, predicate: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        self.config_mut().exempt.add_predicate(Arc::new(predicate));
        self
    }

    /// The exempt paths, in order.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_http::DrainLayer;
    ///
    /// let layer = DrainLayer::new(Shutdown::builder().no_signals().build());
    /// assert_eq!(layer.exempt_path_list(), ["/healthz", "/readyz", "/metrics"]);
    /// assert!(layer.exempt_paths::<_, String>([]).exempt_path_list().is_empty());
    /// ```
    pub fn exempt_path_list(&self) -> Vec<&str> {
        self.config.exempt.paths().collect()
    }

    /// The methods the exempt paths are exempt for, in order.
    ///
    /// ```
    /// use http::Method;
    /// use winddown_core::Shutdown;
    /// use winddown_http::DrainLayer;
    ///
    /// let layer = DrainLayer::new(Shutdown::builder().no_signals().build());
    /// assert_eq!(layer.exempt_method_list(), [Method::GET, Method::HEAD]);
    /// ```
    pub fn exempt_method_list(&self) -> &[Method] {
        self.config.exempt.methods()
    }

    /// The configured `Retry-After`, as given (the header rounds it up to
    /// whole seconds).
    ///
    /// ```
    /// use std::time::Duration;
    /// use winddown_core::Shutdown;
    /// use winddown_http::DrainLayer;
    ///
    /// let layer = DrainLayer::new(Shutdown::builder().no_signals().build())
    ///     .retry_after(Duration::from_millis(1500));
    /// assert_eq!(layer.retry_after_duration(), Duration::from_millis(1500));
    /// ```
    pub fn retry_after_duration(&self) -> Duration {
        self.config.retry_after
    }

    /// The shutdown handle this layer drains on.
    ///
    /// ```
    /// use winddown_core::Shutdown;
    /// use winddown_http::DrainLayer;
    ///
    /// let shutdown = Shutdown::builder().no_signals().build();
    /// let layer = DrainLayer::new(shutdown.clone());
    /// layer.shutdown().trigger();
    /// assert!(shutdown.is_shutting_down());
    /// ```
    pub fn shutdown(&self) -> &Shutdown {
        &self.config.shutdown
    }
}

impl<S> Layer<S> for DrainLayer {
    type Service = Drain<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Drain::from_parts(inner, self.config.clone())
    }
}
