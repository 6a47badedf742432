//! A hardened HTTP/1.1 listener for the sidecar's servers (the REST shim and
//! the Zoom webhook receiver): a header-read timeout, an idle timeout, a cap
//! on open connections, and an accept loop that survives `EMFILE`.
//!
//! At the cap a new connection is still accepted and the oldest connection
//! that is not handling a request is closed to make room (first those that
//! never completed a request: idle or slow-header clients), so a flood of
//! idle connections cannot lock out a real client. When every connection is
//! busy, the new one is closed at once.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long the accept loop pauses after an error such as `EMFILE`.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Open connections at most (default 256).
    pub max_connections: usize,
    /// Time a client has to send a complete request head, also the longest
    /// a kept-alive connection waits for its next request (default 10 s).
    pub header_read_timeout: Duration,
    /// A connection that moves no byte either way for this long is closed
    /// (default 120 s; above the longest request the servers allow).
    pub idle_timeout: Duration,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// Serves `router` on `listener` until `cancel` fires, then lets open
/// requests finish. Requests carry [`ConnectInfo<SocketAddr>`] of the peer.
/// Accept errors (`EMFILE`, …) are logged and retried after a short pause;
/// this function only returns after `cancel`.
///
/// # Errors
/// None today; the `Result` keeps room for bind-time failures.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    cancel: CancellationToken,
) -> io::Result<()> {
    let registry = Arc::new(Mutex::new(Registry::default()));
    let tracker = TaskTracker::new();
    let mut last_error_log: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Log at most once a second, pause, go on: never exit.
                if last_error_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                    tracing::warn!(error = %e, "accept failed; retrying");
                    last_error_log = Some(Instant::now());
                }
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                }
            }
        };
        let admitted = registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(limits.max_connections.max(1));
        let Some((id, slot)) = admitted else {
            tracing::debug!("every connection is busy; closing a new one");
            continue;
        };
        tracker.spawn(serve_connection(
            stream,
            peer,
            router.clone(),
            limits,
            cancel.clone(),
            slot,
            Release(id, Arc::clone(&registry)),
        ));
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ListenerLimits,
    cancel: CancellationToken,
    slot: Arc<Slot>,
    _release: Release,
) {
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(IdleIo::new(stream, limits.idle_timeout));
    let service_slot = Arc::clone(&slot);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let busy = Busy::new(Arc::clone(&service_slot));
        let router = router.clone();
        async move {
            let res = router.oneshot(req.map(Body::new)).await;
            drop(busy);
            res
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "connection ended");
                }
                return;
            }
            () = slot.evict.cancelled() => {
                tracing::debug!(%peer, "closing an idle connection to make room");
                return;
            }
            () = cancel.cancelled(), if !shutting_down => {
                // No request in hand (idle, or a head still arriving): close
                // now rather than wait for the header-read timeout.
                if slot.busy.load(Ordering::SeqCst) == 0 {
                    return;
                }
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// One open connection.
#[derive(Debug, Default)]
struct Slot {
    /// Requests being handled.
    busy: AtomicUsize,
    /// Set once a request has been handled.
    served: AtomicBool,
    /// Fires to close the connection.
    evict: CancellationToken,
}

/// Marks a slot busy while a request is handled.
struct Busy(Arc<Slot>);

impl Busy {
    fn new(slot: Arc<Slot>) -> Self {
        slot.busy.fetch_add(1, Ordering::SeqCst);
        Self(slot)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.served.store(true, Ordering::SeqCst);
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Open connections, oldest first.
#[derive(Debug, Default)]
struct Registry {
    next: u64,
    open: BTreeMap<u64, Arc<Slot>>,
}

impl Registry {
    /// Makes room for a new connection (closing the oldest idle one when
    /// full); `None` when every open connection is busy.
    fn admit(&mut self, cap: usize) -> Option<(u64, Arc<Slot>)> {
        while self.open.len() >= cap {
            let idle = |s: &Arc<Slot>| s.busy.load(Ordering::SeqCst) == 0;
            let victim = self
                .open
                .iter()
                .find(|(_, s)| idle(s) && !s.served.load(Ordering::SeqCst))
                .or_else(|| self.open.iter().find(|(_, s)| idle(s)))
                .map(|(id, _)| *id)?;
            if let Some(slot) = self.open.remove(&victim) {
                slot.evict.cancel();
            }
        }
        self.next += 1;
        let slot = Arc::new(Slot::default());
        self.open.insert(self.next, Arc::clone(&slot));
        Some((self.next, slot))
    }
}

/// Removes a connection from the registry when its task ends.
struct Release(u64, Arc<Mutex<Registry>>);

impl Drop for Release {
    fn drop(&mut self) {
        self.1
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open
            .remove(&self.0);
    }
}

/// A stream that fails with `TimedOut` once no byte has moved for `idle`
/// while the server waits on it.
struct IdleIo {
    inner: TcpStream,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl IdleIo {
    fn new(inner: TcpStream, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn progress(&mut self) {
        let at = Instant::now() + self.idle;
        self.deadline.as_mut().reset(at);
    }

    /// Turns a pending poll into `TimedOut` when the deadline has passed.
    fn pending_or_timeout<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection idle for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for IdleIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.progress();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.pending_or_timeout(cx),
        }
    }
}

impl AsyncWrite for IdleIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.progress();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.pending_or_timeout(cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                this.progress();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.pending_or_timeout(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn server(limits: ListenerLimits) -> (SocketAddr, CancellationToken) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
        let cancel = CancellationToken::new();
        tokio::spawn(serve_http(listener, router, limits, cancel.clone()));
        (addr, cancel)
    }

    async fn request(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
            .await
            .expect("response within 5 s")
            .unwrap();
        out
    }

    /// Reads until EOF or error; true when the server closed the stream.
    async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
        let mut buf = [0u8; 256];
        matches!(
            tokio::time::timeout(limit, async {
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            })
            .await,
            Ok(())
        )
    }

    #[tokio::test]
    async fn slow_headers_are_cut_off_and_real_clients_still_served() {
        let (addr, cancel) = server(ListenerLimits {
            max_connections: 4,
            header_read_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_secs(30),
        })
        .await;
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nhost:").await.unwrap();
        assert!(
            closed_within(&mut slow, Duration::from_secs(5)).await,
            "a partial header is closed after the header-read timeout"
        );
        let reply = request(addr).await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.ends_with("127.0.0.1"), "connect info: {reply}");
        cancel.cancel();
    }

    #[tokio::test]
    async fn at_the_cap_idle_connections_make_room() {
        let (addr, cancel) = server(ListenerLimits {
            max_connections: 8,
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
        })
        .await;
        let mut idle = Vec::new();
        for _ in 0..50 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        // The server would hold every one for 30 s; a real client still gets in.
        let reply = request(addr).await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        // The oldest idle ones were closed.
        assert!(closed_within(&mut idle[0], Duration::from_secs(5)).await);
        cancel.cancel();
    }

    #[tokio::test]
    async fn stalled_bodies_hit_the_idle_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/",
            axum::routing::post(|body: String| async move { body.len().to_string() }),
        );
        let cancel = CancellationToken::new();
        tokio::spawn(serve_http(
            listener,
            router,
            ListenerLimits {
                max_connections: 4,
                header_read_timeout: Duration::from_secs(30),
                idle_timeout: Duration::from_millis(300),
            },
            cancel.clone(),
        ));
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nabc")
            .await
            .unwrap();
        assert!(closed_within(&mut s, Duration::from_secs(5)).await);
        cancel.cancel();
    }

    #[tokio::test]
    async fn cancel_stops_the_server_without_waiting_for_slow_heads() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(serve_http(
            listener,
            Router::new(),
            ListenerLimits::default(),
            cancel.clone(),
        ));
        let mut slow = TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nhost:").await.unwrap();
        // A served request on a later connection: the slow one was accepted.
        let mut kept = TcpStream::connect(addr).await.unwrap();
        kept.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        kept.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 404");
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops well before the 10 s header-read timeout")
            .unwrap()
            .unwrap();
        drop(kept);
    }
}
