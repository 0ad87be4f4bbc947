//! The `echo` gRPC service of `grpc_service`, its server and its client,
//! written by hand on tonic and prost (no `protoc` needed) from this
//! definition:
//!
//! ```proto
//! syntax = "proto3";
//! package echo;
//! service Echo { rpc Say(EchoRequest) returns (EchoReply); rpc SlowSay(EchoRequest) returns (EchoReply); }
//! message EchoRequest { string text = 1; }
//! message EchoReply { string text = 1; }
//! ```
//!
//! The code has the shape `tonic-prost-build` would generate, cut down to
//! these two unary calls. The tests and the gRPC benchmark use it too.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::uri::PathAndQuery;
use http_body::Body;
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};
use tonic_prost::ProstCodec;

/// `echo.EchoRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoRequest {
    /// The text to echo.
    #[prost(string, tag = "1")]
    pub text: String,
}

/// `echo.EchoReply`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EchoReply {
    /// The echoed text.
    #[prost(string, tag = "1")]
    pub text: String,
}

/// The full name of the service.
pub const SERVICE_NAME: &str = "echo.Echo";
/// The path of `Say`.
pub const SAY: &str = "/echo.Echo/Say";
/// The path of `SlowSay`.
pub const SLOW_SAY: &str = "/echo.Echo/SlowSay";

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The `echo.Echo` server: `Say` answers the text at once, `SlowSay` after
/// `slow`.
#[derive(Debug, Clone)]
pub struct EchoServer {
    slow: Duration,
}

impl EchoServer {
    /// A server whose `SlowSay` takes `slow`.
    pub fn new(slow: Duration) -> Self {
        EchoServer { slow }
    }
}

impl NamedService for EchoServer {
    const NAME: &'static str = SERVICE_NAME;
}

/// One method of the server, as tonic's unary call handling wants it.
struct Method {
    /// `None` for `Say`, the delay for `SlowSay`.
    delay: Option<Duration>,
}

impl UnaryService<EchoRequest> for Method {
    type Response = EchoReply;
    type Future = BoxFuture<Result<Response<EchoReply>, Status>>;

    fn call(&mut self, request: Request<EchoRequest>) -> Self::Future {
        let delay = self.delay;
        Box::pin(async move {
            let text = request.into_inner().text;
            if let Some(delay) = delay {
                println!("slow call started");
                tokio::time::sleep(delay).await;
                println!("slow call answered");
            }
            Ok(Response::new(EchoReply { text }))
        })
    }
}

impl<B> tower::Service<http::Request<B>> for EchoServer
where
    B: Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let delay = match req.uri().path() {
            SAY => None,
            SLOW_SAY => Some(self.slow),
            _ => {
                let status = Status::unimplemented(format!("no method {}", req.uri().path()));
                return Box::pin(async move { Ok(status.into_http()) });
            }
        };
        Box::pin(async move {
            let mut grpc = Grpc::new(ProstCodec::default());
            Ok(grpc.unary(Method { delay }, req).await)
        })
    }
}

/// A client of `echo.Echo` on a tonic [`Channel`].
#[derive(Debug, Clone)]
pub struct EchoClient {
    inner: tonic::client::Grpc<Channel>,
}

impl EchoClient {
    /// A client sending its calls on `channel`.
    pub fn new(channel: Channel) -> Self {
        EchoClient {
            inner: tonic::client::Grpc::new(channel),
        }
    }

    /// Calls `Say`.
    pub async fn say(&mut self, text: &str) -> Result<String, Status> {
        self.call(SAY, text).await
    }

    /// Calls `SlowSay`.
    pub async fn slow_say(&mut self, text: &str) -> Result<String, Status> {
        self.call(SLOW_SAY, text).await
    }

    async fn call(&mut self, path: &'static str, text: &str) -> Result<String, Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::new(Code::Unknown, format!("the channel was not ready: {e}")))?;
        let request = Request::new(EchoRequest { text: text.into() });
        let reply: Response<EchoReply> = self
            .inner
            .unary(
                request,
                PathAndQuery::from_static(path),
                ProstCodec::default(),
            )
            .await?;
        Ok(reply.into_inner().text)
    }
}
