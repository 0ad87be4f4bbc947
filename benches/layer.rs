//! Per-request cost of a tower service bare and wrapped in `DrainLayer`, in
//! `drain::Retain` and in tower-http's `InFlightRequestsLayer`, measured in
//! the same run. One iteration builds a request, calls the service and reads
//! the response body to its end (where the layer's work ends).
//!
//! Run with `cargo bench --bench layer`.

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::util::ServiceFn;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_http::metrics::InFlightRequestsLayer;
use winddown_core::Shutdown;
use winddown_http::DrainLayer;

type Req = Request<Full<Bytes>>;

type Hello = ServiceFn<fn(Req) -> Ready<Result<Response<Full<Bytes>>, Infallible>>>;

/// The bare service: a small fixed response.
fn hello() -> Hello {
    service_fn(|_: Req| ready(Ok(Response::new(Full::new(Bytes::from_static(b"hello"))))))
}

/// A request as small as it gets.
fn minimal() -> Req {
    Request::new(Full::default())
}

/// A request shaped like one a server hands over: a path and a few headers.
fn typical() -> Req {
    Request::get("/hello")
        .header(header::HOST, "127.0.0.1:8080")
        .header(header::USER_AGENT, "bench/1.0")
        .header(header::ACCEPT, "*/*")
        .body(Full::default())
        .expect("a valid request")
}

/// Calls `service` `iters` times, reading every response body to its end.
async fn drive<S, B>(mut service: S, make: fn() -> Req, iters: u64) -> Duration
where
    S: Service<Req, Response = Response<B>>,
    S::Error: Debug,
    B: Body + Unpin,
    B::Error: Debug,
{
    let start = Instant::now();
    for _ in 0..iters {
        let request = make();
        let ready = service.ready().await.expect("service ready");
        let response = ready.call(request).await.expect("response");
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            black_box(frame.expect("body frame"));
        }
    }
    start.elapsed()
}

fn per_request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let shutdown = Shutdown::builder().no_signals().build();
    let (_drain_signal, drain_watch) = drain::channel();
    let (in_flight_layer, in_flight_counter) = InFlightRequestsLayer::pair();

    for (shape, make) in [("minimal", minimal as fn() -> Req), ("typical", typical)] {
        let mut group = c.benchmark_group(format!("request_{shape}"));
        group.bench_function("bare", |b| {
            b.iter_custom(|iters| rt.block_on(drive(hello(), make, iters)))
        });
        group.bench_function("winddown_drain_layer", |b| {
            let service = DrainLayer::new(shutdown.clone()).layer(hello());
            b.iter_custom(|iters| rt.block_on(drive(service.clone(), make, iters)))
        });
        group.bench_function("drain_retain", |b| {
            let service = drain::Retain::new(drain_watch.clone(), hello());
            b.iter_custom(|iters| rt.block_on(drive(service.clone(), make, iters)))
        });
        group.bench_function("tower_http_in_flight_requests", |b| {
            let service = in_flight_layer.clone().layer(hello());
            b.iter_custom(|iters| rt.block_on(drive(service.clone(), make, iters)))
        });
        group.finish();
    }
    assert_eq!(shutdown.in_flight_count(), 0);
    assert_eq!(in_flight_counter.get(), 0);
}

criterion_group!(benches, per_request);
criterion_main!(benches);
