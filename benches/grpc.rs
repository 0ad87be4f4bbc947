//! Unary gRPC calls per second over one HTTP/2 connection, with and without
//! winddown's drain layer, on `tonic::transport::Server` and on winddown's
//! server. The four servers run side by side in this process (one runtime
//! worker on their own thread); the client (one tonic `Channel`, so one
//! connection per server) runs on another thread. Turns are interleaved:
//! every round runs each variant once, in rotating order, and the figures are
//! medians over the rounds of each variant's calls/s and of its ratio to the
//! bare server of the same stack in the same round.
//!
//! Run with `cargo bench --bench grpc`. Knobs: `BENCH_ROUNDS` (default 40),
//! `BENCH_CALLS` (calls per turn, default 4000), `BENCH_CONCURRENCY`
//! (comma-separated calls in flight at once, default `1,32`).

#[path = "../examples/echo/mod.rs"]
mod echo;

use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tower::Layer;
use winddown::Shutdown;

use crate::echo::{EchoClient, EchoServer};

/// A whole number from the environment, or `default`; anything else exits.
fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(value) => value.parse().unwrap_or_else(|_| {
            eprintln!("{name}: expected a whole number, got {value:?}");
            std::process::exit(2);
        }),
    }
}

/// `BENCH_CONCURRENCY`: the numbers of calls kept in flight.
fn concurrency() -> Vec<u64> {
    let raw = std::env::var("BENCH_CONCURRENCY").unwrap_or_else(|_| "1,32".to_owned());
    raw.split(',')
        .map(|part| match part.trim().parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!(
                    "BENCH_CONCURRENCY: expected whole numbers above 0 like \"1,32\", got {raw:?}"
                );
                std::process::exit(2);
            }
        })
        .collect()
}

/// The servers under comparison.
#[derive(Clone, Copy)]
enum Variant {
    TonicBare,
    TonicLayer,
    WinddownBare,
    WinddownLayer,
}

impl Variant {
    const ALL: [Variant; 4] = [
        Variant::TonicBare,
        Variant::TonicLayer,
        Variant::WinddownBare,
        Variant::WinddownLayer,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::TonicBare => "tonic Server, bare",
            Variant::TonicLayer => "tonic Server + drain_layer",
            Variant::WinddownBare => "winddown server, bare",
            Variant::WinddownLayer => "winddown server + drain_layer",
        }
    }

    /// The index of the bare variant of the same stack.
    fn baseline(self) -> usize {
        match self {
            Variant::TonicBare | Variant::TonicLayer => 0,
            Variant::WinddownBare | Variant::WinddownLayer => 2,
        }
    }

    /// Starts this server on `rt`; returns its URL.
    fn start(self, rt: &Runtime, shutdown: &Shutdown) -> String {
        let shutdown = shutdown.clone();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("address"));
            let echo = EchoServer::new(Duration::ZERO);
            let layer = winddown::grpc::drain_layer(shutdown.clone());
            // TCP_NODELAY on both stacks (winddown's server sets it), as the
            // client has it.
            let incoming = |listener| TcpIncoming::from(listener).with_nodelay(Some(true));
            match self {
                Variant::TonicBare => {
                    let server = Server::builder().add_service(echo);
                    tokio::spawn(server.serve_with_incoming(incoming(listener)));
                }
                Variant::TonicLayer => {
                    let server = Server::builder().layer(layer).add_service(echo);
                    tokio::spawn(server.serve_with_incoming(incoming(listener)));
                }
                Variant::WinddownBare | Variant::WinddownLayer => {
                    let routes = Routes::new(echo).prepare();
                    if matches!(self, Variant::WinddownLayer) {
                        let app = layer.layer(routes);
                        tokio::spawn(winddown::server::serve(listener, app, shutdown));
                    } else {
                        tokio::spawn(winddown::server::serve(listener, routes, shutdown));
                    }
                }
            }
            url
        })
    }
}

/// Makes `calls` unary calls on `client`'s connection, `in_flight` at a
/// time; returns calls per second.
async fn turn(client: &EchoClient, calls: u64, in_flight: u64) -> f64 {
    let start = Instant::now();
    let callers: Vec<_> = (0..in_flight)
        .map(|i| {
            let mut client = client.clone();
            let share = calls / in_flight + u64::from(i < calls % in_flight);
            tokio::spawn(async move {
                for _ in 0..share {
                    let reply = client.say("hello").await.expect("Say is OK");
                    assert_eq!(reply, "hello");
                }
            })
        })
        .collect();
    for caller in callers {
        caller.await.expect("caller");
    }
    calls as f64 / start.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let rounds = env_u64("BENCH_ROUNDS", 40) as usize;
    let calls = env_u64("BENCH_CALLS", 4000).max(1);
    let levels = concurrency();

    let servers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("server runtime");
    let clients = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let shutdown = Shutdown::builder().no_signals().build();

    let variants = Variant::ALL;
    let clients_of: Vec<EchoClient> = variants
        .iter()
        .map(|v| {
            let url = v.start(&servers, &shutdown);
            clients.block_on(async move {
                let channel = Channel::from_shared(url).expect("url").connect().await;
                EchoClient::new(channel.expect("connect"))
            })
        })
        .collect();

    println!(
        "unary calls/s over one connection, interleaved ({rounds} rounds of {calls} calls per \
         variant; medians of the per-round figures)"
    );
    for &in_flight in &levels {
        // Warm-up: one turn each.
        for client in &clients_of {
            clients.block_on(turn(client, calls, in_flight));
        }
        let n = variants.len();
        let mut rates = vec![Vec::with_capacity(rounds); n];
        let mut ratios = vec![Vec::with_capacity(rounds); n];
        for round in 0..rounds {
            let mut rate = vec![0.0; n];
            for k in 0..n {
                let i = (round + k) % n;
                rate[i] = clients.block_on(turn(&clients_of[i], calls, in_flight));
            }
            for (i, variant) in variants.iter().enumerate() {
                rates[i].push(rate[i]);
                ratios[i].push(rate[i] / rate[variant.baseline()]);
            }
        }
        for (i, variant) in variants.iter().enumerate() {
            let rate = median(&mut rates[i]);
            let ratio = median(&mut ratios[i]);
            println!(
                "  {in_flight:>3} in flight  {:<30} {rate:>9.0} calls/s  {ratio:>6.3}x bare",
                variant.name()
            );
        }
    }
    assert_eq!(shutdown.in_flight_count(), 0, "every call finished");
}
