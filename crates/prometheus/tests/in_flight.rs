//! The in-flight requests gauge as a scraper sees it: a real server with the
//! drain layer, a request held in flight, and real scrapes of `/metrics`.

use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use winddown_core::Shutdown;
use winddown_http::DrainLayer;
use winddown_prometheus::PrometheusMetrics;

/// Sends one HTTP/1.1 request on a fresh connection; the whole answer.
async fn request(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8(answer).unwrap()
}

/// The value of `winddown_inflight_requests` in a scrape.
async fn scraped_in_flight(addr: SocketAddr) -> String {
    let answer = request(addr, "/metrics").await;
    answer
        .lines()
        .find_map(|line| line.strip_prefix("winddown_inflight_requests "))
        .unwrap_or_else(|| panic!("no in-flight gauge in:\n{answer}"))
        .to_owned()
}

#[tokio::test]
async fn every_scrape_counts_the_requests_in_flight_at_that_moment() {
    let (_recorder, metrics) = PrometheusMetrics::build(PrometheusMetrics::exporter());
    let shutdown = Shutdown::builder().no_signals().build();
    metrics.track(&shutdown);

    // Each request to /hold reports that it started, then waits to be let go.
    let (started_tx, mut started) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
    let app = Router::new()
        .route(
            "/hold",
            get(move || {
                let started_tx = started_tx.clone();
                async move {
                    let (release_tx, release) = oneshot::channel();
                    started_tx.send(release_tx).unwrap();
                    release.await.unwrap();
                    "done"
                }
            }),
        )
        .route_service("/metrics", metrics.service())
        .layer(DrainLayer::new(shutdown.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    assert_eq!(scraped_in_flight(addr).await, "0");
    let first = tokio::spawn(request(addr, "/hold"));
    let second = tokio::spawn(request(addr, "/hold"));
    let release_first = started.recv().await.unwrap();
    let release_second = started.recv().await.unwrap();
    // The scrape itself is exempt: not counted.
    assert_eq!(scraped_in_flight(addr).await, "2");

    release_first.send(()).unwrap();
    assert!(first.await.unwrap().ends_with("done"));
    assert_eq!(scraped_in_flight(addr).await, "1");
    release_second.send(()).unwrap();
    assert!(second.await.unwrap().ends_with("done"));
    assert_eq!(scraped_in_flight(addr).await, "0");
    server.abort();
}
