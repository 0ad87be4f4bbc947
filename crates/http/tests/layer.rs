//! The drain layer at the tower level, on paused time.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Channel, Full};
use tokio::time::{Instant, sleep};
use tower::util::BoxCloneService;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use winddown_core::{Shutdown, ShutdownReport, State};
use winddown_http::{Drain, DrainEnded, DrainLayer, Probe, ServiceBuilderExt};
use winddown_testkit::hold_in_cleanup;

fn shutdown(drain_timeout: Duration) -> Shutdown {
    Shutdown::builder()
        .no_signals()
        .announce_delay(Duration::from_secs(1))
        .drain_timeout(drain_timeout)
        .timeout(Duration::from_secs(60))
        .build()
}

fn get(path: &str) -> Request<()> {
    Request::get(path).body(()).unwrap()
}

fn get_v(path: &str, version: Version) -> Request<()> {
    Request::get(path).version(version).body(()).unwrap()
}

/// Runs the sequence in the background.
fn spawn_run(shutdown: &Shutdown) -> tokio::task::JoinHandle<ShutdownReport> {
    let shutdown = shutdown.clone();
    tokio::spawn(async move { shutdown.run().await })
}

/// Starts the sequence and waits until it has reached `state`.
async fn advance_to(shutdown: &Shutdown, state: State) -> tokio::task::JoinHandle<ShutdownReport> {
    shutdown.trigger();
    let run = spawn_run(shutdown);
    shutdown.reached(state).await;
    run
}

/// A service answering `hello`, counting its calls and recording the
/// in-flight count it saw.
fn hello(
    shutdown: &Shutdown,
    calls: Arc<AtomicUsize>,
    seen_in_flight: Arc<AtomicUsize>,
) -> impl Service<
    Request<()>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    let s = shutdown.clone();
    service_fn(move |_req: Request<()>| {
        calls.fetch_add(1, Ordering::SeqCst);
        seen_in_flight.store(s.in_flight_count(), Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello")))) }
    })
}

/// [`hello`], boxed.
type Hello = BoxCloneService<Request<()>, Response<Full<Bytes>>, Infallible>;

/// The default layer around [`hello`], with its call counter and the
/// in-flight count it saw at its last call (`usize::MAX` before the first).
fn layered_hello(shutdown: &Shutdown) -> (Drain<Hello>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicUsize::new(usize::MAX));
    let inner = BoxCloneService::new(hello(shutdown, calls.clone(), seen.clone()));
    (
        DrainLayer::new(shutdown.clone()).layer_service(inner),
        calls,
        seen,
    )
}

async fn body_text<B>(response: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test(start_paused = true)]
async fn running_passes_through_and_counts_until_the_body_ends() {
    let shutdown = shutdown(Duration::from_secs(5));
    let (service, calls, seen) = layered_hello(&shutdown);

    let response = service.oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("connection").is_none());
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "the request counts while its handler runs"
    );
    assert_eq!(
        shutdown.in_flight_count(),
        1,
        "and while its body is unsent"
    );
    assert!(response.body().is_in_flight());
    assert_eq!(body_text(response).await, "hello");
    assert_eq!(shutdown.in_flight_count(), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_body_ends_the_request() {
    let shutdown = shutdown(Duration::from_secs(5));
    let service = Drain::new(
        hello(&shutdown, Arc::default(), Arc::default()),
        shutdown.clone(),
    );
    let response = service.oneshot(get("/")).await.unwrap();
    assert_eq!(shutdown.in_flight_count(), 1);
    drop(response);
    assert_eq!(shutdown.in_flight_count(), 0);
}

/// Whether an exempt request closes its HTTP/1 connection is decided when
/// it comes in; a counted one is asked when its response is ready.
#[tokio::test(start_paused = true)]
async fn connection_close_follows_the_state_at_the_call_for_exempt_requests_and_at_the_answer_for_others()
 {
    let shutdown = shutdown(Duration::from_secs(5));
    // Every call waits until the test lets it answer.
    let answer = Arc::new(tokio::sync::Notify::new());
    let service = Drain::new(
        service_fn({
            let answer = answer.clone();
            move |_req: Request<()>| {
                let answer = answer.clone();
                async move {
                    answer.notified().await;
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
                }
            }
        }),
        shutdown.clone(),
    );
    let probe = tokio::spawn(service.clone().oneshot(get("/healthz")));
    let request = tokio::spawn(service.clone().oneshot(get("/")));
    // Both handlers are waiting (paused time: every task has run).
    tokio::task::yield_now().await;
    assert_eq!(shutdown.in_flight_count(), 1, "the request, not the probe");
    shutdown.trigger();
    answer.notify_waiters();
    let probe = probe.await.unwrap().unwrap();
    assert!(
        probe.headers().get("connection").is_none(),
        "came in while running"
    );
    let request = request.await.unwrap().unwrap();
    assert_eq!(
        request.headers()["connection"],
        "close",
        "answered while announcing"
    );

    // Came in while announcing.
    answer.notify_one();
    let probe = service.oneshot(get("/healthz")).await.unwrap();
    assert_eq!(probe.headers()["connection"], "close");
}

#[tokio::test(start_paused = true)]
async fn announcing_serves_and_adds_connection_close_on_http1_only() {
    let shutdown = shutdown(Duration::from_secs(5));
    let (service, calls, _) = layered_hello(&shutdown);
    shutdown.trigger();
    assert_eq!(shutdown.state(), State::Announcing);

    for version in [Version::HTTP_10, Version::HTTP_11] {
        let response = service.clone().oneshot(get_v("/", version)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{version:?}");
        assert_eq!(response.headers()["connection"], "close", "{version:?}");
        assert_eq!(body_text(response).await, "hello");
    }
    for version in [Version::HTTP_2, Version::HTTP_3] {
        let response = service.clone().oneshot(get_v("/", version)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{version:?}");
        assert!(
            response.headers().get("connection").is_none(),
            "{version:?}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test(start_paused = true)]
async fn upgrades_keep_their_connection_header() {
    let shutdown = shutdown(Duration::from_secs(5));
    let service = Drain::new(
        service_fn(|_: Request<()>| async {
            let response = Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .body(Full::<Bytes>::default())
                .unwrap();
            Ok::<_, Infallible>(response)
        }),
        shutdown.clone(),
    );
    shutdown.trigger();
    let response = service.oneshot(get("/ws")).await.unwrap();
    assert_eq!(response.headers()["connection"], "upgrade");
}

#[tokio::test(start_paused = true)]
async fn draining_rejects_new_requests_without_calling_the_service() {
    let shutdown = shutdown(Duration::from_secs(5));
    let (service, calls, _) = layered_hello(&shutdown);
    let run = advance_to(&shutdown, State::Draining).await;

    let response = service
        .clone()
        .oneshot(get_v("/", Version::HTTP_11))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(response.headers()["connection"], "close");
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert!(!response.body().is_in_flight());
    let text = body_text(response).await;
    assert!(text.contains("shutting down"), "{text}");
    assert!(text.len() < 100, "a short body: {text}");

    let response = service
        .clone()
        .oneshot(get_v("/", Version::HTTP_2))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("connection").is_none());
    assert_eq!(response.headers()["retry-after"], "5");

    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the inner service was never called"
    );
    assert_eq!(shutdown.in_flight_count(), 0);

    // Still refused in cleanup and after done.
    let report = run.await.unwrap();
    assert!(report.drained);
    assert_eq!(shutdown.state(), State::Done);
    let response = service.oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_configurable_and_rounded_up() {
    for (retry_after, header) in [
        (Duration::from_secs(10), "10"),
        (Duration::from_millis(2500), "3"),
        (Duration::from_millis(1), "1"),
        (Duration::ZERO, "0"),
        // Saturates instead of overflowing.
        (Duration::MAX, "18446744073709551615"),
        (Duration::from_secs(u64::MAX), "18446744073709551615"),
    ] {
        let shutdown = shutdown(Duration::from_secs(5));
        let layer = DrainLayer::new(shutdown.clone()).retry_after(retry_after);
        assert_eq!(layer.retry_after_duration(), retry_after);
        let service = layer.layer_service(hello(&shutdown, Arc::default(), Arc::default()));
        let _run = advance_to(&shutdown, State::Draining).await;
        let response = service.oneshot(get("/")).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], header, "{retry_after:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn exempt_paths_are_served_in_every_state_and_never_counted() {
    let shutdown = shutdown(Duration::from_secs(5));
    // A hook that keeps the sequence in cleanup until released.
    let release = hold_in_cleanup(&shutdown);
    let (service, calls, seen) = layered_hello(&shutdown);

    let check = |state: State| {
        let service = service.clone();
        let seen = seen.clone();
        let shutdown = shutdown.clone();
        async move {
            assert_eq!(shutdown.state(), state);
            let before = shutdown.in_flight_count();
            for path in ["/healthz", "/readyz", "/metrics"] {
                let response = service.clone().oneshot(get(path)).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{path} in {state}");
                assert_eq!(
                    seen.load(Ordering::SeqCst),
                    before,
                    "{path} in {state} is not counted"
                );
                assert!(!response.body().is_in_flight());
                assert_eq!(shutdown.in_flight_count(), before);
                let close = response.headers().get("connection").is_some();
                assert_eq!(close, state != State::Running, "{path} in {state}");
                assert_eq!(body_text(response).await, "hello");
            }
        }
    };
    check(State::Running).await;
    shutdown.trigger();
    check(State::Announcing).await;
    // Other work in flight keeps the sequence draining until released.
    let other_work = shutdown.in_flight_guard();
    let run = spawn_run(&shutdown);
    shutdown.draining().await;
    check(State::Draining).await;
    drop(other_work);
    shutdown.cleanup_started().await;
    check(State::Cleanup).await;
    release.send(()).unwrap();
    run.await.unwrap();
    check(State::Done).await;
    assert_eq!(calls.load(Ordering::SeqCst), 15);
}

/// Paths are matched exactly against `uri.path()`: every other spelling is
/// refused while draining, whatever a router might make of it.
#[tokio::test(start_paused = true)]
async fn exempt_matching_cannot_be_bypassed() {
    let cases: &[(&str, bool)] = &[
        ("/healthz", true),
        ("/readyz", true),
        ("/metrics", true),
        ("/healthz?x=1", true),
        ("/metrics?name[]=up", true),
        ("http://example.com/healthz", true),
        ("/healthz/", false),
        ("/HEALTHZ", false),
        ("/Healthz", false),
        ("/healthz%2F", false),
        ("/%68ealthz", false),
        ("/healthz%00", false),
        ("/./healthz", false),
        ("/foo/../healthz", false),
        ("/healthz/.", false),
        ("/healthz/..", false),
        ("//healthz", false),
        ("/healthzz", false),
        ("/health", false),
        ("/healthz;x", false),
        ("/healthz.json", false),
        ("/healthz/anything", false),
        ("/metrics/", false),
        ("/metricsx", false),
        ("/api/metrics", false),
        ("/", false),
        ("*", false),
        ("http://example.com/", false),
    ];
    let shutdown = shutdown(Duration::from_secs(5));
    let (service, _, _) = layered_hello(&shutdown);
    let _run = advance_to(&shutdown, State::Draining).await;
    for &(uri, exempt) in cases {
        let response = service.clone().oneshot(get(uri)).await.unwrap();
        let expected = if exempt {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        assert_eq!(response.status(), expected, "{uri}");
    }
}

#[tokio::test(start_paused = true)]
async fn exempt_paths_can_be_replaced_and_extended() {
    let shutdown = shutdown(Duration::from_secs(5));
    let layer = DrainLayer::new(shutdown.clone())
        .exempt_paths(["/livez"])
        .exempt_path("/status")
        .exempt_if(|head| head.headers.contains_key("x-probe"))
        .exempt_if(|head| head.method == http::Method::OPTIONS);
    assert_eq!(layer.exempt_path_list(), ["/livez", "/status"]);
    let service = layer.layer_service(hello(&shutdown, Arc::default(), Arc::default()));
    let _run = advance_to(&shutdown, State::Draining).await;

    let status = |req: Request<()>| {
        let service = service.clone();
        async move { service.oneshot(req).await.unwrap().status() }
    };
    assert_eq!(status(get("/livez")).await, StatusCode::OK);
    assert_eq!(status(get("/status")).await, StatusCode::OK);
    assert_eq!(
        status(get("/healthz")).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "defaults replaced"
    );
    let probe = Request::get("/anything")
        .header("x-probe", "1")
        .body(())
        .unwrap();
    assert_eq!(status(probe).await, StatusCode::OK);
    let options = Request::options("/anything").body(()).unwrap();
    assert_eq!(status(options).await, StatusCode::OK);
    assert_eq!(
        status(get("/anything")).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

/// Predicates see the request's whole head, and the inner service gets the
/// request as it came, whether a predicate exempted it or not.
#[tokio::test(start_paused = true)]
async fn predicates_see_the_head_and_leave_the_request_as_it_came() {
    #[derive(Clone, Debug, PartialEq)]
    struct Tag(&'static str);

    /// What of a head the test looks at.
    fn describe(head: &http::request::Parts) -> String {
        format!(
            "{} {} {:?} {:?} {:?}",
            head.method,
            head.uri,
            head.version,
            head.headers.get("x-probe"),
            head.extensions.get::<Tag>(),
        )
    }

    let shutdown = shutdown(Duration::from_secs(5));
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let layer = DrainLayer::new(shutdown.clone()).exempt_if({
        let heads = heads.clone();
        move |head| {
            heads.lock().unwrap().push(describe(head));
            head.headers.contains_key("x-probe")
        }
    });
    let service = layer.layer_service(service_fn(|req: Request<String>| async move {
        let (head, body) = req.into_parts();
        let answer = format!("{} {body}", describe(&head));
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(answer))))
    }));
    let request = |probe: bool| {
        let mut builder = Request::put("/jobs/7?x=1")
            .version(Version::HTTP_2)
            .extension(Tag("mine"));
        if probe {
            builder = builder.header("x-probe", "yes");
        }
        builder.body(String::from("the body")).unwrap()
    };

    let answer = body_text(service.clone().oneshot(request(false)).await.unwrap()).await;
    assert_eq!(
        answer,
        "PUT /jobs/7?x=1 HTTP/2.0 None Some(Tag(\"mine\")) the body"
    );
    let answer = body_text(service.oneshot(request(true)).await.unwrap()).await;
    assert_eq!(
        answer,
        "PUT /jobs/7?x=1 HTTP/2.0 Some(\"yes\") Some(Tag(\"mine\")) the body"
    );
    assert_eq!(
        *heads.lock().unwrap(),
        [
            "PUT /jobs/7?x=1 HTTP/2.0 None Some(Tag(\"mine\"))",
            "PUT /jobs/7?x=1 HTTP/2.0 Some(\"yes\") Some(Tag(\"mine\"))",
        ]
    );
    assert_eq!(shutdown.in_flight_count(), 0);
}

/// An exempt path is exempt for `GET` and `HEAD` only, by default: any
/// other method on it is drained like any other request.
#[tokio::test(start_paused = true)]
async fn exempt_paths_are_exempt_for_get_and_head_only_by_default() {
    let shutdown = shutdown(Duration::from_secs(5));
    let (service, calls, _) = layered_hello(&shutdown);
    let _run = advance_to(&shutdown, State::Draining).await;
    let status = |method: http::Method, path: &str| {
        let service = service.clone();
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap();
        async move { service.oneshot(req).await.unwrap().status() }
    };
    use http::Method;
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            status(Method::GET, path).await,
            StatusCode::OK,
            "GET {path}"
        );
        assert_eq!(
            status(Method::HEAD, path).await,
            StatusCode::OK,
            "HEAD {path}"
        );
        for method in [
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
            Method::from_bytes(b"PURGE").unwrap(),
        ] {
            assert_eq!(
                status(method.clone(), path).await,
                StatusCode::SERVICE_UNAVAILABLE,
                "{method} {path} is drained"
            );
        }
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        6,
        "only GET and HEAD got through"
    );
}

#[tokio::test(start_paused = true)]
async fn exempt_methods_are_configurable() {
    use http::Method;
    let shutdown = shutdown(Duration::from_secs(5));
    let layer = DrainLayer::new(shutdown.clone()).exempt_methods([Method::POST]);
    assert_eq!(layer.exempt_method_list(), [Method::POST]);
    let service = layer.layer_service(hello(&shutdown, Arc::default(), Arc::default()));
    let _run = advance_to(&shutdown, State::Draining).await;
    let status = |method: Method, path: &str| {
        let service = service.clone();
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap();
        async move { service.oneshot(req).await.unwrap().status() }
    };
    assert_eq!(status(Method::POST, "/metrics").await, StatusCode::OK);
    assert_eq!(
        status(Method::GET, "/metrics").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        status(Method::POST, "/").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "methods widen the exempt paths only"
    );

    // No method: nothing is exempt by path; predicates still apply.
    let service = DrainLayer::new(shutdown.clone())
        .exempt_methods([])
        .exempt_if(|head| head.headers.contains_key("x-probe"))
        .layer_service(hello(&shutdown, Arc::default(), Arc::default()));
    let response = service.clone().oneshot(get("/healthz")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let probe = Request::post("/anything")
        .header("x-probe", "1")
        .body(())
        .unwrap();
    assert_eq!(
        service.oneshot(probe).await.unwrap().status(),
        StatusCode::OK
    );
}

/// Exemption lets a request through to the application, nothing more: an
/// exempt path the application does not route reaches its fallback.
#[tokio::test(start_paused = true)]
async fn an_unrouted_exempt_path_reaches_the_applications_fallback() {
    use axum::Router;
    use axum::routing::get as route_get;
    let shutdown = shutdown(Duration::from_secs(5));
    let app: Router = Router::new()
        .route("/", route_get(|| async { "hello" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "fallback") })
        .layer(DrainLayer::new(shutdown.clone()));
    let _run = advance_to(&shutdown, State::Draining).await;
    let response = app
        .clone()
        .oneshot(
            Request::get("/metrics")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_text(response).await, "fallback");
    let response = app
        .oneshot(Request::get("/").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(start_paused = true)]
async fn a_slow_request_finishes_and_the_drain_waits_for_it() {
    let shutdown = shutdown(Duration::from_secs(10));
    let service = Drain::new(
        service_fn(|_: Request<()>| async {
            sleep(Duration::from_secs(3)).await;
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("slow and complete"))))
        }),
        shutdown.clone(),
    );
    let start = Instant::now();
    let request = tokio::spawn(async move {
        let response = service.oneshot(get("/slow")).await.unwrap();
        let status = response.status();
        let close = response.headers().get("connection").cloned();
        (status, close, body_text(response).await)
    });
    sleep(Duration::from_millis(500)).await;
    shutdown.trigger();
    let report = shutdown.run().await;
    let (status, close, text) = request.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(close.unwrap(), "close", "finished while shutting down");
    assert_eq!(text, "slow and complete");
    assert!(report.drained);
    assert_eq!(report.abandoned, 0);
    // announce 1 s from t=0.5, then the drain waits until t=3.
    assert_eq!(report.announce, Duration::from_secs(1));
    assert_eq!(report.drain, Duration::from_millis(1500));
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

/// Where the streaming handler hands over the sending side of each body.
type Senders = tokio::sync::mpsc::UnboundedReceiver<http_body_util::channel::Sender<Bytes>>;

/// A handler that returns its response head at once and streams the body
/// through a channel the test controls.
type StreamService = BoxCloneService<Request<()>, Response<Channel<Bytes>>, Infallible>;

fn streaming(shutdown: &Shutdown) -> (Drain<StreamService>, Senders) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let inner = service_fn(move |_: Request<()>| {
        let (sender, body) = Channel::new(4);
        tx.send(sender).unwrap();
        async move { Ok::<_, Infallible>(Response::new(body)) }
    });
    let inner = BoxCloneService::new(inner);
    (Drain::new(inner, shutdown.clone()), rx)
}

#[tokio::test(start_paused = true)]
async fn a_streaming_body_holds_the_drain_open_until_it_ends() {
    let shutdown = shutdown(Duration::from_secs(30));
    let (service, mut senders) = streaming(&shutdown);
    let response = service.oneshot(get("/events")).await.unwrap();
    let mut sender = senders.recv().await.unwrap();
    let reader = tokio::spawn(body_text(response));

    let run = advance_to(&shutdown, State::Draining).await;
    sender.send_data(Bytes::from("one ")).await.unwrap();
    sleep(Duration::from_secs(5)).await;
    assert_eq!(
        shutdown.state(),
        State::Draining,
        "the open body holds the drain"
    );
    assert_eq!(shutdown.in_flight_count(), 1);
    sender.send_data(Bytes::from("two")).await.unwrap();
    drop(sender);

    assert_eq!(reader.await.unwrap(), "one two");
    let report = run.await.unwrap();
    assert!(report.drained);
    assert_eq!(report.abandoned, 0);
    assert_eq!(report.drain, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn an_endless_stream_is_cut_when_the_drain_times_out() {
    let shutdown = shutdown(Duration::from_secs(3));
    let (service, mut senders) = streaming(&shutdown);
    let response = service.oneshot(get("/events")).await.unwrap();
    let mut sender = senders.recv().await.unwrap();
    sender
        .send_data(Bytes::from("data: tick\n\n"))
        .await
        .unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "data: tick\n\n");

    let start = Instant::now();
    shutdown.trigger();
    let reader = tokio::spawn(async move { body.frame().await.map(|f| f.map(|_| ())) });
    let report = shutdown.run().await;
    assert!(!report.drained);
    assert_eq!(report.abandoned, 1);
    assert_eq!(report.drain, Duration::from_secs(3));
    assert_eq!(start.elapsed(), Duration::from_secs(4));

    let error = reader.await.unwrap().unwrap().unwrap_err();
    assert!(error.is::<DrainEnded>(), "{error}");
    assert_eq!(shutdown.in_flight_count(), 0);
    drop(sender);
}

#[tokio::test(start_paused = true)]
async fn a_handler_still_pending_at_the_drain_end_gets_503() {
    let shutdown = shutdown(Duration::from_secs(2));
    let service = Drain::new(
        service_fn(|_: Request<()>| async {
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        }),
        shutdown.clone(),
    );
    let request = tokio::spawn(service.oneshot(get("/long-poll")));
    sleep(Duration::from_millis(10)).await;
    assert_eq!(shutdown.in_flight_count(), 1);
    shutdown.trigger();
    let report = shutdown.run().await;
    assert_eq!(report.abandoned, 1);
    let response = request.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "5");
    assert_eq!(shutdown.in_flight_count(), 0);
}

#[derive(Debug, PartialEq)]
struct HandlerFailed;

#[tokio::test(start_paused = true)]
async fn the_inner_error_type_is_kept() {
    fn infallible<S: Service<Request<()>, Error = Infallible>>(_: &S) {}

    let shutdown = shutdown(Duration::from_secs(5));
    infallible(&Drain::new(
        hello(&shutdown, Arc::default(), Arc::default()),
        shutdown.clone(),
    ));

    let service = Drain::new(
        service_fn(|_: Request<()>| async { Err::<Response<Full<Bytes>>, _>(HandlerFailed) }),
        shutdown.clone(),
    );
    let error = service.oneshot(get("/")).await.unwrap_err();
    assert_eq!(error, HandlerFailed);
    assert_eq!(shutdown.in_flight_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn service_builder_extension_adds_the_layer() {
    let shutdown = shutdown(Duration::from_secs(5));
    let service = ServiceBuilder::new()
        .drain_on_shutdown(shutdown.clone())
        .service(hello(&shutdown, Arc::default(), Arc::default()));
    let _run = advance_to(&shutdown, State::Draining).await;
    let response = service.oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(start_paused = true)]
async fn probes_follow_the_state() {
    let shutdown = shutdown(Duration::from_secs(5));
    let release = hold_in_cleanup(&shutdown);
    let probe = |state: State| {
        let shutdown = shutdown.clone();
        async move {
            assert_eq!(shutdown.state(), state);
            let ready = Probe::readiness(shutdown.clone())
                .oneshot(get("/readyz"))
                .await
                .unwrap();
            let live = Probe::liveness(shutdown.clone())
                .oneshot(get("/healthz"))
                .await
                .unwrap();
            assert_eq!(live.status(), StatusCode::OK, "liveness in {state}");
            assert_eq!(body_text(live).await, format!("alive ({state})\n"));
            (ready.status(), body_text(ready).await)
        }
    };
    assert_eq!(
        probe(State::Running).await,
        (StatusCode::OK, "ready\n".to_owned())
    );
    shutdown.trigger();
    let (status, text) = probe(State::Announcing).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(text, "not ready: shutting down (announcing)\n");
    let run = spawn_run(&shutdown);
    shutdown.cleanup_started().await;
    assert_eq!(
        probe(State::Cleanup).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    release.send(()).unwrap();
    run.await.unwrap();
    assert_eq!(probe(State::Done).await.0, StatusCode::SERVICE_UNAVAILABLE);
}

/// Gives `DrainLayer` a `layer_service` shorthand for these tests.
trait LayerService {
    fn layer_service<S>(&self, inner: S) -> Drain<S>;
}

impl LayerService for DrainLayer {
    fn layer_service<S>(&self, inner: S) -> Drain<S> {
        tower::Layer::layer(self, inner)
    }
}
