//! Per-request cost of a tower service bare and wrapped in `DrainLayer`
//! (without and with a Prometheus recorder tracking its requests), in
//! `drain::Retain` and in tower-http's `InFlightRequestsLayer`, measured in
//! the same run. One iteration builds a request, calls the service and reads
//! the response body to its end (where the layer's work ends).
//!
//! Run with `cargo bench --bench layer`. With `LAYER_BENCH_RUN=<shape>/<variant>/<n>`
//! (e.g. `minimal/winddown_drain_layer/100000`) it only makes that many
//! requests of that variant and exits: `scripts/bench-instructions.sh` counts
//! the instructions of two such runs under valgrind, whose difference is the
//! cost of the extra requests alone.

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;
use http::{Request, Response, header};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower::util::ServiceFn;
use tower::{Layer, Service, ServiceExt, service_fn};
use tower_http::metrics::InFlightRequestsLayer;
use winddown::prometheus::{PrometheusMetrics, PrometheusRecorder};
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

/// The variants under comparison, each as "run this many requests".
type Variant<'a> = (&'static str, Box<dyn FnMut(u64) -> Duration + 'a>);

fn variants<'a>(
    rt: &'a tokio::runtime::Runtime,
    peers: &'a Peers,
    make: fn() -> Req,
) -> Vec<Variant<'a>> {
    let drain_layer = DrainLayer::new(peers.shutdown.clone()).layer(hello());
    let retain = drain::Retain::new(peers.drain_watch.clone(), hello());
    let in_flight = peers.in_flight_layer.clone().layer(hello());
    // A shutdown of its own, tracked by the recorder.
    let with_prometheus = DrainLayer::new(peers.prometheus_shutdown.clone()).layer(hello());
    vec![
        (
            "bare",
            Box::new(move |n| rt.block_on(drive(hello(), make, n))),
        ),
        (
            "winddown_drain_layer",
            Box::new(move |n| rt.block_on(drive(drain_layer.clone(), make, n))),
        ),
        (
            // As in a service that exports Prometheus metrics: a real
            // recorder installed, reporting the shutdown's requests in
            // flight at each render (requests pay for no metric).
            "winddown_drain_layer_prometheus",
            Box::new(move |n| {
                metrics::with_local_recorder(&peers.recorder, || {
                    rt.block_on(drive(with_prometheus.clone(), make, n))
                })
            }),
        ),
        (
            "drain_retain",
            Box::new(move |n| rt.block_on(drive(retain.clone(), make, n))),
        ),
        (
            "tower_http_in_flight_requests",
            Box::new(move |n| rt.block_on(drive(in_flight.clone(), make, n))),
        ),
    ]
}

/// What the peers need, kept alive for the whole run.
struct Peers {
    shutdown: Shutdown,
    prometheus_shutdown: Shutdown,
    drain_watch: drain::Watch,
    in_flight_layer: InFlightRequestsLayer,
    recorder: PrometheusRecorder,
}

/// A request shape: its name and how to build one.
type Shape = (&'static str, fn() -> Req);

const SHAPES: [Shape; 2] = [("minimal", minimal), ("typical", typical)];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

fn per_request(c: &mut Criterion, rt: &tokio::runtime::Runtime, peers: &Peers) {
    for (shape, make) in SHAPES {
        let mut group = c.benchmark_group(format!("request_{shape}"));
        for (name, mut run) in variants(rt, peers, make) {
            group.bench_function(name, |b| b.iter_custom(&mut run));
        }
        group.finish();
    }
}

/// Ratios against the bare service that hold on a noisy machine: the
/// variants take turns, in batches of `BATCH` requests, for `ROUNDS` rounds,
/// and the ratio is the median of the per-round ratios.
fn interleaved(rt: &tokio::runtime::Runtime, peers: &Peers) {
    const ROUNDS: usize = 300;
    const BATCH: u64 = 5_000;
    println!(
        "\nper-request time and ratios, interleaved ({ROUNDS} rounds of {BATCH} requests; \
         medians of the per-round figures)"
    );
    for (shape, make) in SHAPES {
        let mut variants = variants(rt, peers, make);
        let n = variants.len();
        // The baselines each variant is compared with, by name.
        let baselines: Vec<usize> = ["bare", "drain_retain", "tower_http_in_flight_requests"]
            .iter()
            .map(|b| {
                variants
                    .iter()
                    .position(|(name, _)| name == b)
                    .expect("a baseline variant")
            })
            .collect();
        let mut ratios = vec![vec![Vec::with_capacity(ROUNDS); baselines.len()]; n];
        let mut times = vec![Vec::with_capacity(ROUNDS); n];
        for round in 0..ROUNDS {
            let mut elapsed = vec![Duration::ZERO; n];
            // Rotate the order so that no variant always runs first.
            for k in 0..n {
                let i = (round + k) % n;
                elapsed[i] = (variants[i].1)(BATCH);
            }
            for i in 0..n {
                for (j, &b) in baselines.iter().enumerate() {
                    ratios[i][j].push(elapsed[i].as_secs_f64() / elapsed[b].as_secs_f64());
                }
                times[i].push(elapsed[i].as_secs_f64() * 1e9 / BATCH as f64);
            }
        }
        for (i, (name, _)) in variants.iter().enumerate() {
            let ns = median(&mut times[i]);
            let [bare, retain, in_flight] = [0, 1, 2].map(|j| median(&mut ratios[i][j]));
            println!(
                "  {shape:<8} {name:<32} {ns:>7.1} ns  {bare:>6.3}x bare  \
                 {retain:>6.3}x drain_retain  {in_flight:>6.3}x tower_http"
            );
        }
    }
}

/// Makes `n` requests of one variant, as `<shape>/<variant>/<n>` says. Never
/// inlined: `scripts/bench-instructions.sh` counts the instructions of this
/// function alone.
#[inline(never)]
fn run_only(rt: &tokio::runtime::Runtime, peers: &Peers, run: &str) {
    let usage = "LAYER_BENCH_RUN=<shape>/<variant>/<requests>";
    let [shape, variant, n] = run.split('/').collect::<Vec<_>>()[..] else {
        panic!("{usage}: got {run:?}");
    };
    let Some((_, make)) = SHAPES.iter().find(|(name, _)| *name == shape) else {
        let shapes: Vec<_> = SHAPES.iter().map(|(name, _)| name).collect();
        panic!("{usage}: no shape {shape:?}; the shapes are {shapes:?}");
    };
    let n: u64 = n
        .parse()
        .unwrap_or_else(|_| panic!("{usage}: {n:?} is not a number of requests"));
    let mut variants = variants(rt, peers, *make);
    let names: Vec<_> = variants.iter().map(|(name, _)| *name).collect();
    let Some((_, run)) = variants.iter_mut().find(|(name, _)| *name == variant) else {
        panic!("{usage}: no variant {variant:?}; the variants are {names:?}");
    };
    run(n);
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let rt = runtime();
    let (_drain_signal, drain_watch) = drain::channel();
    let (in_flight_layer, in_flight_counter) = InFlightRequestsLayer::pair();
    let (recorder, prometheus) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    let peers = Peers {
        shutdown: Shutdown::builder().no_signals().build(),
        prometheus_shutdown: Shutdown::builder().no_signals().build(),
        drain_watch,
        in_flight_layer,
        recorder,
    };
    prometheus.track(&peers.prometheus_shutdown);
    if let Ok(run) = std::env::var("LAYER_BENCH_RUN") {
        run_only(&rt, &peers, &run);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    per_request(&mut criterion, &rt, &peers);
    criterion.final_summary();
    // Not in `cargo test --benches`, `--list` or `--profile-time` runs.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--bench")
        && !args.iter().any(|a| a == "--list" || a == "--profile-time")
    {
        interleaved(&rt, &peers);
    }
    assert_eq!(peers.shutdown.in_flight_count(), 0);
    assert_eq!(peers.prometheus_shutdown.in_flight_count(), 0);
    assert_eq!(in_flight_counter.get(), 0);
    let rendered = prometheus.render();
    assert!(
        rendered.contains("winddown_inflight_requests 0"),
        "{rendered}"
    );
}
