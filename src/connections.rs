//! Serving the API's HTTP/1.1 connections (hyper) with the limits a hostile client must not
//! get around: the request line and headers must arrive within the header read timeout (a
//! slowloris connection, or one that sends nothing, is closed after it; so is an idle
//! kept-alive connection), at most 100 headers in at most hyper's 400 KiB read buffer (larger
//! heads are answered 431 and closed). The body is bounded by the handlers
//! ([`crate::api::intake::read_body`]: size and time) and the whole request by the router's
//! request timeout. On shutdown, listening stops, each connection finishes the request in
//! flight and closes, and `serve` returns once all have.

use std::future::Future;
use std::io;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::serve::Listener;
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::Layer;

/// What one connection may take.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// From the first poll for a request (a new connection, or the end of the previous
    /// response) until its headers are complete.
    pub header_read_timeout: Duration,
}

/// Accepts connections on `listener` (plain TCP, or TLS with its handshake done) and serves
/// `app` on each until `shutdown` completes; then drains the open connections (see the module
/// documentation). Each request carries the listener's peer (`L::Addr`) as [`ConnectInfo`].
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    L: Listener,
    L::Addr: Clone + Send + Sync + 'static,
{
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // The listener retries failed accepts itself (waiting a little when out of file
        // descriptors and the like).
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        // Finished connections' tasks are reaped as new ones come.
        while connections.try_join_next().is_some() {}
        let service = TowerToHyperService::new(Extension(ConnectInfo(peer)).layer(app.clone()));
        let mut closing = closing_rx.clone();
        connections.spawn(async move {
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = async { drop(closing.wait_for(|closing| *closing).await) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                // A client that timed out, sent a malformed request or went away: the
                // connection is closed, nothing else to do.
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}
