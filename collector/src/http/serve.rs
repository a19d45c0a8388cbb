//! Serving with the limits a public endpoint needs: every browser of every school talks to
//! the collector, so slow or abusive clients must not take it down.
//!
//! - **header read timeout** (also the idle timeout of a kept-alive connection, which waits for
//!   its next request's headers): a slowloris connection is closed after it;
//! - **request timeout** (body read and handling): 408 `request_timeout`;
//! - **concurrency limit**: beyond `max_in_flight` requests at once, 503 `overloaded` with
//!   `Retry-After: 1`, answered at once rather than queued;
//! - **graceful shutdown**: when `shutdown` completes, no new connection is accepted, requests
//!   in flight finish (up to `shutdown_grace`), idle connections are closed.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Bytes, HttpBody};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tower::Service;

use super::ApiError;

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Longest wait for a request's headers, and for the next request on an idle connection.
    pub header_read_timeout: Duration,
    /// Longest time to read a request's body and answer it.
    pub request_timeout: Duration,
    /// Requests handled at once; more get 503.
    pub max_in_flight: usize,
    /// Longest wait for requests in flight at shutdown.
    pub shutdown_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 4096,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// The router behind the request timeout and the concurrency limit, applied once around the
/// whole router (not per route: `Router::layer` would box and clone the stack for every
/// request). Cloning it is cheap: a router and a semaphore behind `Arc`s.
#[derive(Clone)]
pub struct Limited {
    router: Router,
    in_flight: Arc<Semaphore>,
    request_timeout: Duration,
}

impl Limited {
    /// `router` under `limits`.
    pub fn new(router: Router, limits: &ServerLimits) -> Self {
        Limited { router, in_flight: Arc::new(Semaphore::new(limits.max_in_flight)), request_timeout: limits.request_timeout }
    }

    /// Answers one request: 503 `overloaded` at once when `max_in_flight` are being handled,
    /// 408 `request_timeout` when reading and answering it takes longer than the limit.
    async fn answer<B>(mut self, request: Request<B>) -> Response
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "too many requests at once; retry").into_response();
        };
        match tokio::time::timeout(self.request_timeout, self.router.call(request.map(axum::body::Body::new))).await {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            Err(_) => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", "the request took too long to arrive or to answer").into_response()
            }
        }
    }
}

impl<B> Service<Request<B>> for Limited
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.answer(request).await) })
    }
}

/// Serves `router` (under [`Limited`]) on `listener` until `shutdown` completes,
/// then drains as the module header says.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: &ServerLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let service = Limited::new(router, limits);
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of file descriptors, a connection reset before accept…: keep going.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service.clone()));
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection closed with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(grace = ?limits.shutdown_grace, "requests still in flight at the end of the shutdown grace");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(router: Router, limits: ServerLimits) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            serve(listener, router, &limits, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        (addr, stop, server)
    }

    async fn get_raw(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn slow_header_senders_are_cut_off_and_do_not_block_others() {
        let limits = ServerLimits { header_read_timeout: Duration::from_millis(300), ..ServerLimits::default() };
        let (addr, stop, server) = start(Router::new().route("/", get(|| async { "ok" })), limits).await;
        // 200 connections that send half a request line and stall.
        let mut slow = Vec::new();
        for _ in 0..200 {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.write_all(b"GET / HT").await.unwrap();
            slow.push(stream);
        }
        let answer = get_raw(addr, "/").await;
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");
        // After the timeout, the server has closed them.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let mut closed = 0;
        for stream in &mut slow {
            let mut buf = [0u8; 512];
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
                closed += 1;
            }
        }
        assert_eq!(closed, 200, "every stalled connection was closed");
        stop.send(()).unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn beyond_the_limit_requests_get_503_with_retry_after_and_slow_ones_408() {
        let limits = ServerLimits { max_in_flight: 1, request_timeout: Duration::from_millis(500), ..ServerLimits::default() };
        let (started, mut started_rx) = tokio::sync::mpsc::channel::<()>(1);
        let router = Router::new()
            .route(
                "/slow",
                get(move || {
                    let started = started.clone();
                    async move {
                        let _ = started.send(()).await;
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        "late"
                    }
                }),
            )
            .route("/", get(|| async { "ok" }));
        let (addr, stop, server) = start(router, limits).await;
        let slow = tokio::spawn(async move { get_raw(addr, "/slow").await });
        started_rx.recv().await.unwrap();
        let refused = get_raw(addr, "/").await;
        assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
        assert!(refused.to_ascii_lowercase().contains("retry-after: 1") && refused.contains(r#""error":"overloaded""#), "{refused}");
        let timed_out = slow.await.unwrap();
        assert!(timed_out.starts_with("HTTP/1.1 408") && timed_out.contains(r#""error":"request_timeout""#), "{timed_out}");
        assert!(get_raw(addr, "/").await.starts_with("HTTP/1.1 200"), "the slot is free again");
        stop.send(()).unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_lets_requests_in_flight_finish() {
        let router = Router::new().route(
            "/",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "finished"
            }),
        );
        let (addr, stop, server) = start(router, ServerLimits::default()).await;
        let request = tokio::spawn(async move { get_raw(addr, "/").await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
        let answer = request.await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("finished"), "{answer}");
        server.await.unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no new connection after shutdown");
    }
}
