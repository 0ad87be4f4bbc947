//! gRPC requests are refused in gRPC's terms: a trailers-only `UNAVAILABLE`
//! status instead of a `503`. On paused time, at the tower level (the real
//! tonic client and server are in the `winddown` package's `grpc` tests).

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{Request, Response, StatusCode, Version};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tokio::time::sleep;
use tower::{ServiceExt, service_fn};
use winddown_core::{Shutdown, ShutdownReport, State};
use winddown_http::{Drain, DrainBody};

fn shutdown() -> Shutdown {
    Shutdown::builder()
        .no_signals()
        .announce_delay(Duration::from_secs(1))
        .drain_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(60))
        .build()
}

/// Starts the sequence and waits until it is draining.
async fn draining(shutdown: &Shutdown) -> tokio::task::JoinHandle<ShutdownReport> {
    shutdown.trigger();
    let run = tokio::spawn({
        let s = shutdown.clone();
        async move { s.run().await }
    });
    shutdown.reached(State::Draining).await;
    run
}

fn hello() -> impl tower::Service<
    Request<()>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hello"))))
    })
}

fn call(content_type: &str, version: Version) -> Request<()> {
    Request::post("/echo.Echo/Say")
        .version(version)
        .header("content-type", content_type)
        .body(())
        .unwrap()
}

/// Asserts a trailers-only `UNAVAILABLE` answer with `content_type`.
async fn assert_unavailable(response: Response<DrainBody<Full<Bytes>>>, content_type: &str) {
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "gRPC statuses ride on 200"
    );
    let headers = response.headers();
    assert_eq!(headers["content-type"], content_type);
    assert_eq!(headers["grpc-status"], "14");
    let message = headers["grpc-message"].to_str().unwrap();
    assert!(message.contains("shutting down"), "{message}");
    assert!(headers.get("retry-after").is_none());
    let body = response.into_body();
    assert!(
        body.is_end_stream(),
        "trailers-only: the headers end the stream"
    );
    let collected = body.collect().await.unwrap();
    assert!(collected.trailers().is_none());
    assert!(collected.to_bytes().is_empty());
}

#[tokio::test(start_paused = true)]
async fn grpc_calls_while_draining_get_unavailable_in_the_headers() {
    let shutdown = shutdown();
    let service = Drain::new(hello(), shutdown.clone());
    let run = draining(&shutdown).await;

    for content_type in ["application/grpc", "application/grpc+proto"] {
        let response = service
            .clone()
            .oneshot(call(content_type, Version::HTTP_2))
            .await
            .unwrap();
        assert!(
            response.headers().get("connection").is_none(),
            "never a Connection header on HTTP/2"
        );
        assert_unavailable(response, "application/grpc").await;
    }
    run.await.unwrap();
}

/// gRPC and gRPC-Web calls are always POSTs: any other method with a gRPC
/// content type is plain HTTP, refused with a `503` and `Retry-After`.
#[tokio::test(start_paused = true)]
async fn only_posts_are_answered_in_grpc_terms() {
    let shutdown = shutdown();
    let service = Drain::new(hello(), shutdown.clone());
    let run = draining(&shutdown).await;

    let get = Request::get("/echo.Echo/Say")
        .version(Version::HTTP_2)
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let response = service.clone().oneshot(get).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("grpc-status").is_none());
    assert_eq!(response.headers()["retry-after"], "5");

    let post = call("application/grpc", Version::HTTP_2);
    assert_unavailable(service.oneshot(post).await.unwrap(), "application/grpc").await;
    run.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn grpc_web_over_http1_is_answered_in_its_own_content_type_and_closes() {
    let shutdown = shutdown();
    let service = Drain::new(hello(), shutdown.clone());
    let run = draining(&shutdown).await;

    for (sent, answered) in [
        ("application/grpc-web+proto", "application/grpc-web"),
        ("application/grpc-web-text", "application/grpc-web-text"),
    ] {
        let response = service
            .clone()
            .oneshot(call(sent, Version::HTTP_11))
            .await
            .unwrap();
        assert_eq!(response.headers()["connection"], "close");
        assert_unavailable(response, answered).await;
    }
    run.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn plain_http_keeps_the_503() {
    let shutdown = shutdown();
    let service = Drain::new(hello(), shutdown.clone());
    let run = draining(&shutdown).await;

    for content_type in ["application/json", "text/plain", "application/grp"] {
        let response = service
            .clone()
            .oneshot(call(content_type, Version::HTTP_2))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().get("grpc-status").is_none());
        assert_eq!(response.headers()["retry-after"], "5");
    }
    run.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn grpc_calls_are_served_while_announcing() {
    let shutdown = shutdown();
    let service = Drain::new(hello(), shutdown.clone());
    shutdown.trigger();
    let response = service
        .oneshot(call("application/grpc", Version::HTTP_2))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("grpc-status").is_none());
    assert!(response.headers().get("connection").is_none());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello");
}

#[tokio::test(start_paused = true)]
async fn a_grpc_handler_still_pending_at_the_drain_end_gets_unavailable() {
    let shutdown = shutdown();
    let service = Drain::new(
        service_fn(|_: Request<()>| async {
            std::future::pending::<()>().await;
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        }),
        shutdown.clone(),
    );
    let request = tokio::spawn(service.oneshot(call("application/grpc", Version::HTTP_2)));
    sleep(Duration::from_millis(10)).await;
    assert_eq!(shutdown.in_flight_count(), 1);
    shutdown.trigger();
    let report = shutdown.run().await;
    assert_eq!(report.abandoned, 1);
    let response = request.await.unwrap().unwrap();
    assert_unavailable(response, "application/grpc").await;
    assert_eq!(shutdown.in_flight_count(), 0);
}

/// A streaming answer: one message, then nothing until the end of time.
fn endless_stream() -> impl tower::Service<
    Request<()>,
    Response = Response<http_body_util::StreamBody<EndlessFrames>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|_: Request<()>| async {
        let frames =
            futures_util::stream::iter([Ok(message())]).chain(futures_util::stream::pending());
        Ok::<_, Infallible>(Response::new(http_body_util::StreamBody::new(
            Box::pin(frames) as EndlessFrames,
        )))
    })
}

type EndlessFrames = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<http_body::Frame<Bytes>, Infallible>> + Send>,
>;

/// Starts a streaming call with `content_type`, reads its first message,
/// and runs the shutdown until the drain has ended with the call still
/// streaming. Returns what the body gives next, and after that.
async fn cut_at_the_drain_end(
    content_type: &str,
) -> (
    Option<Result<http_body::Frame<Bytes>, winddown_core::BoxError>>,
    Option<Result<http_body::Frame<Bytes>, winddown_core::BoxError>>,
    bool,
) {
    let shutdown = shutdown();
    let service = Drain::new(endless_stream(), shutdown.clone());
    let response = service
        .oneshot(call(content_type, Version::HTTP_2))
        .await
        .unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "message");
    shutdown.trigger();
    let run = tokio::spawn({
        let s = shutdown.clone();
        async move { s.run().await }
    });
    let next = body.frame().await;
    let after = body.frame().await;
    let end_stream = body.is_end_stream();
    assert_eq!(shutdown.in_flight_count(), 0, "a cut call leaves the count");
    let report = run.await.unwrap();
    assert!(
        !report.drained,
        "the call was still streaming at the drain's end"
    );
    (next, after, end_stream)
}

#[tokio::test(start_paused = true)]
async fn a_grpc_stream_cut_at_the_drain_end_ends_with_unavailable_trailers() {
    let (next, after, end_stream) = cut_at_the_drain_end("application/grpc+proto").await;
    let trailers = next
        .expect("a frame")
        .expect("trailers, not an error (which resets the stream: INTERNAL)")
        .into_trailers()
        .expect("trailers");
    assert_eq!(trailers["grpc-status"], "14", "UNAVAILABLE");
    let message = trailers["grpc-message"].to_str().unwrap();
    assert!(message.contains("retry on another server"), "{message}");
    assert!(after.is_none(), "the trailers end the body");
    assert!(end_stream);
}

#[tokio::test(start_paused = true)]
async fn grpc_web_and_plain_http_streams_cut_at_the_drain_end_end_with_an_error() {
    // gRPC-Web carries its trailers in the body, in its own framing (and
    // text encoding): the stream is cut as any other.
    for content_type in ["application/grpc-web", "text/event-stream"] {
        let (next, after, _) = cut_at_the_drain_end(content_type).await;
        let error = next.expect("a frame").expect_err("cut with an error");
        assert!(
            error.is::<winddown_http::DrainEnded>(),
            "{content_type}: {error}"
        );
        assert!(after.is_none(), "{content_type}: nothing after the cut");
    }
}

/// A body of the given frames, then (with `then_pending`) pending forever
/// or the end; like hyper's and tonic's bodies, it says when it has ended.
struct Frames {
    frames: std::collections::VecDeque<http_body::Frame<Bytes>>,
    then_pending: bool,
}

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        match self.frames.pop_front() {
            Some(frame) => std::task::Poll::Ready(Some(Ok(frame))),
            None if self.then_pending => std::task::Poll::Pending,
            None => std::task::Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && !self.then_pending
    }
}

/// A service answering with the frames `frames` makes (see [`Frames`]).
fn answering(
    frames: fn() -> Vec<http_body::Frame<Bytes>>,
    then_pending: bool,
) -> impl tower::Service<
    Request<()>,
    Response = Response<Frames>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    service_fn(move |_: Request<()>| async move {
        let frames = Frames {
            frames: frames().into(),
            then_pending,
        };
        Ok::<_, Infallible>(Response::new(frames))
    })
}

fn status(code: &'static str) -> http_body::Frame<Bytes> {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static(code));
    http_body::Frame::trailers(trailers)
}

/// Calls the service `make` builds, behind the drain of a fresh shutdown:
/// the shutdown and the response's body.
async fn drained_call<S, RB>(
    make: impl FnOnce(Shutdown) -> S,
    request: Request<()>,
) -> (Shutdown, DrainBody<RB>)
where
    S: tower::Service<Request<()>, Response = Response<RB>, Error = Infallible>,
{
    let shutdown = shutdown();
    let service = Drain::new(make(shutdown.clone()), shutdown.clone());
    let body = service.oneshot(request).await.unwrap().into_body();
    (shutdown, body)
}

/// Reads `first` frames of the body of a call to the service `make`
/// builds, runs the shutdown to the end of its drain (the body still
/// counted), waits for `settled`, then reads the rest to the end.
async fn read_across_the_drain_end<S, RB>(
    make: impl FnOnce(Shutdown) -> S,
    request: Request<()>,
    first: usize,
    settled: impl AsyncFnOnce(),
) -> Vec<Result<http_body::Frame<Bytes>, winddown_core::BoxError>>
where
    S: tower::Service<Request<()>, Response = Response<RB>, Error = Infallible>,
    RB: Body<Data = Bytes, Error = Infallible> + Unpin,
{
    let (shutdown, mut body) = drained_call(make, request).await;
    let mut frames = Vec::new();
    for _ in 0..first {
        frames.push(body.frame().await.expect("a frame"));
    }
    assert_eq!(shutdown.in_flight_count(), 1, "still counted");
    shutdown.trigger();
    let report = shutdown.run().await;
    assert!(!report.drained);
    settled().await;
    while let Some(frame) = body.frame().await {
        frames.push(frame);
    }
    assert!(body.is_end_stream());
    assert_eq!(shutdown.in_flight_count(), 0);
    frames
}

/// The one message the streaming answers give.
fn message() -> http_body::Frame<Bytes> {
    http_body::Frame::data(Bytes::from("message"))
}

#[tokio::test(start_paused = true)]
async fn a_grpc_call_whose_trailers_were_not_read_at_the_drain_end_is_cut() {
    // The handler's trailers not read yet when the drain ends: the call is
    // cut (an end that comes as the drain ends may come from it). A call
    // whose trailers were read has ended: see
    // `a_body_that_gave_its_trailers_has_ended_though_it_does_not_say_so`.
    let request = call("application/grpc", Version::HTTP_2);
    let make = |_: Shutdown| answering(|| vec![message(), status("0")], false);
    let frames = read_across_the_drain_end(make, request, 1, async || {}).await;
    assert_eq!(frames.len(), 2);
    let trailers = frames[1].as_ref().unwrap().trailers_ref().unwrap();
    assert_eq!(trailers["grpc-status"], "14");
}

#[tokio::test(start_paused = true)]
async fn a_body_that_says_it_has_ended_is_not_cut() {
    let request = Request::get("/download").body(()).unwrap();
    let make = |_: Shutdown| answering(|| vec![message()], false);
    let frames = read_across_the_drain_end(make, request, 1, async || {}).await;
    assert_eq!(frames.len(), 1, "ended, not cut: {frames:?}");
}

#[tokio::test(start_paused = true)]
async fn over_http1_a_native_grpc_stream_is_cut_with_an_error() {
    // HTTP/1 drops trailers the response did not announce: a clean end
    // would look like a complete call, so the connection is aborted.
    let request = call("application/grpc", Version::HTTP_11);
    let make = |_: Shutdown| answering(|| vec![message()], true);
    let frames = read_across_the_drain_end(make, request, 1, async || {}).await;
    assert_eq!(frames.len(), 2, "{frames:?}");
    let error = frames[1].as_ref().expect_err("cut with an error");
    assert!(error.is::<winddown_http::DrainEnded>(), "{error}");
}

/// A service whose response body is fed through a channel by a task the
/// shutdown tracks (`Shutdown::spawn`), which sends one message and then
/// waits forever: the drain's end aborts it, which ends the channel.
/// `gone` resolves once the task has been dropped.
fn fed_by_a_tracked_task(
    shutdown: Shutdown,
    gone: tokio::sync::oneshot::Sender<()>,
) -> impl tower::Service<
    Request<()>,
    Response = Response<http_body_util::StreamBody<EndlessFrames>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    let gone = std::sync::Arc::new(std::sync::Mutex::new(Some(gone)));
    service_fn(move |_: Request<()>| {
        let shutdown = shutdown.clone();
        let gone = gone.lock().unwrap().take().expect("one call");
        async move {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            shutdown.spawn(async move {
                // Dropped with the task: the test sees it gone.
                let _gone = gone;
                tx.send(message()).await.unwrap();
                std::future::pending::<()>().await;
            });
            let frames = futures_util::stream::unfold(rx, |mut rx| async move {
                let frame = rx.recv().await?;
                Some((Ok(frame), rx))
            });
            let frames: EndlessFrames = Box::pin(frames);
            Ok::<_, Infallible>(Response::new(http_body_util::StreamBody::new(frames)))
        }
    })
}

/// What a call to [`fed_by_a_tracked_task`] gives after its first message,
/// read once the drain has ended and the aborted producer has been dropped.
async fn read_a_stream_fed_by_a_tracked_task(
    request: Request<()>,
) -> Vec<Result<http_body::Frame<Bytes>, winddown_core::BoxError>> {
    let (gone, dropped) = tokio::sync::oneshot::channel();
    let make = |shutdown| fed_by_a_tracked_task(shutdown, gone);
    let settled = async || {
        // The producer was aborted and dropped: the channel has ended.
        dropped.await.unwrap_err();
    };
    read_across_the_drain_end(make, request, 1, settled).await
}

#[tokio::test(start_paused = true)]
async fn a_stream_whose_producer_the_drain_end_stops_is_cut_not_ended() {
    // Plain HTTP: the error that aborts the connection, not a clean end a
    // client would take for the whole response.
    let request = Request::get("/feed").body(()).unwrap();
    let frames = read_a_stream_fed_by_a_tracked_task(request).await;
    assert_eq!(frames.len(), 2, "{frames:?}");
    let error = frames[1].as_ref().expect_err("cut with an error");
    assert!(error.is::<winddown_http::DrainEnded>(), "{error}");

    // gRPC: UNAVAILABLE, never an OK status for a cut stream.
    let request = call("application/grpc", Version::HTTP_2);
    let frames = read_a_stream_fed_by_a_tracked_task(request).await;
    assert_eq!(frames.len(), 2, "{frames:?}");
    let trailers = frames[1].as_ref().unwrap().trailers_ref().unwrap();
    assert_eq!(trailers["grpc-status"], "14");
}

/// Trailers are a message's last frame: a body that gave them has ended,
/// whether it says so (`is_end_stream`, as hyper's and tonic's bodies do)
/// or not (http-body-util's `StreamBody` never does). The request leaves
/// the count with them, and the drain's end does not cut the body (no
/// second status after the call's own).
#[tokio::test(start_paused = true)]
async fn a_body_that_gave_its_trailers_has_ended_though_it_does_not_say_so() {
    let says_so = |_: Shutdown| answering(|| vec![message(), status("0")], false);
    let does_not = |_: Shutdown| {
        service_fn(|_: Request<()>| async {
            let frames = futures_util::stream::iter([Ok(message()), Ok(status("0"))]);
            let frames: EndlessFrames = Box::pin(frames);
            Ok::<_, Infallible>(Response::new(http_body_util::StreamBody::new(frames)))
        })
    };
    for request in [
        || call("application/grpc", Version::HTTP_2),
        || Request::get("/download").body(()).unwrap(),
    ] {
        assert_ended_by_its_trailers(says_so, request()).await;
        assert_ended_by_its_trailers(does_not, request()).await;
    }
}

/// Reads a message and the trailers of a call to the service `make`
/// builds, then runs the shutdown: nothing was in flight any more, and
/// nothing comes after the trailers.
async fn assert_ended_by_its_trailers<S, RB>(make: impl FnOnce(Shutdown) -> S, request: Request<()>)
where
    S: tower::Service<Request<()>, Response = Response<RB>, Error = Infallible>,
    RB: Body<Data = Bytes, Error = Infallible> + Unpin,
{
    let (shutdown, mut body) = drained_call(make, request).await;
    assert!(body.frame().await.unwrap().unwrap().is_data());
    let trailers = body.frame().await.unwrap().unwrap();
    assert_eq!(trailers.trailers_ref().unwrap()["grpc-status"], "0");
    assert!(!body.is_in_flight(), "the trailers ended the response");
    assert_eq!(shutdown.in_flight_count(), 0);

    shutdown.trigger();
    let report = shutdown.run().await;
    assert!(report.drained, "nothing was in flight");
    let after = body.frame().await;
    assert!(after.is_none(), "nothing after the trailers: {after:?}");
}
