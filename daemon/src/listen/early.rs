//! Early answers reach the client (SPEC §5, case H017), and each connection knows whether a
//! request is in flight (for the idle timeout).
//!
//! A handler that answers before reading the request body (401, 403, 404, 413, 415, ...) just
//! drops it. [`Guarded`] gets the unread rest back and settles it before the answer leaves:
//!
//! - the client waits for `100 Continue` and nothing was read: nothing is read (it never
//!   uploads; HTTP/1.1 closes the connection after the answer);
//! - what is left fits the connection's drain allowance (what is left of
//!   `limits.early_answer_drain_bytes`): it is read and discarded first, within
//!   `limits.request_timeout_ms`, and then the answer goes out. The request is complete when the
//!   client reads the answer, so every client sees it: no RST_STREAM on HTTP/2 (curl 7.88 drops
//!   a response followed by one, exit 92), no reset TCP connection on HTTP/1.1;
//! - otherwise (too big, unknown length over the allowance, 408, 429): the answer goes out at
//!   once (HTTP/1.1 with `Connection: close`) while a background task keeps discarding the
//!   body within [`LINGER_TIME`] and [`LINGER_BYTES`] per connection (the lingering close's
//!   bounds); past them the body is dropped (HTTP/2 resets the stream, HTTP/1.1 closes the
//!   connection with a lingering close, see [`super::linger`]).
//!
//! Discarded bytes count against a per-connection budget, so no connection can make the daemon
//! read more than `limits.early_answer_drain_bytes` of refused bodies before answering, nor more
//! than [`LINGER_BYTES`] (or that allowance, if larger) in all; 429 (failed authentications over the limit) is never drained first.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Request, Response, StatusCode, Version};
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::linger::{LINGER_BYTES, LINGER_TIME};

/// How refused bodies are drained (see the module's documentation).
#[derive(Debug, Clone, Copy)]
pub struct DrainPolicy {
    /// Most bytes of refused bodies one connection may have discarded
    /// (`limits.early_answer_drain_bytes`).
    pub bytes: u64,
    /// Longest wait for the rest of a body before answering (`limits.request_timeout_ms`).
    pub time: Duration,
}

/// What one connection's requests share: drained bytes and the in-flight count.
pub struct ConnState {
    drained: AtomicU64,
    in_flight: AtomicUsize,
    served: AtomicBool,
    opened: Instant,
    /// Milliseconds after `opened` when the last request in flight finished.
    idle_since_ms: AtomicU64,
}

impl ConnState {
    /// A connection accepted now.
    pub fn new() -> Arc<ConnState> {
        Arc::new(ConnState {
            drained: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            opened: Instant::now(),
            idle_since_ms: AtomicU64::new(0),
        })
    }

    /// Resolves once the connection has had no request in flight for `idle` (or, before its
    /// first request, for `first`).
    ///
    /// Both count from the connection's accept ([`ConnState::new`]), so a slow TLS handshake
    /// is part of the first limit. One timer per connection, moved only when it fires:
    /// requests starting and ending are atomic stores ([`InFlight`]), never a wake-up or a
    /// timer update, so the check costs a request nothing. The timer first fires at the
    /// smaller limit after the accept; firing while a request is in flight it waits `idle`
    /// more (the earliest the connection could then expire); firing early for an idle
    /// connection it waits until the last request's end plus the limit. Ends are recorded in
    /// whole milliseconds, rounded up, so a connection never closes before its limit.
    pub async fn idle_expired(&self, first: Duration, idle: Duration) {
        let timer = tokio::time::sleep_until(self.opened + first.min(idle));
        tokio::pin!(timer);
        loop {
            timer.as_mut().await;
            let now = Instant::now();
            if self.in_flight.load(Ordering::Acquire) > 0 {
                timer.as_mut().reset(now + idle);
                continue;
            }
            let limit = if self.served.load(Ordering::Acquire) { idle } else { first };
            let since =
                self.opened + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
            let deadline = since + limit;
            // A request that started since the load above keeps the connection open.
            if now >= deadline && self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            timer.as_mut().reset(deadline.max(now + Duration::from_millis(1)));
        }
    }

    /// Takes up to `want` bytes of the connection's drain budget (concurrent HTTP/2 streams
    /// cannot overdraw it); returns what was granted.
    fn reserve(&self, policy: DrainPolicy, want: u64) -> u64 {
        let mut used = self.drained.load(Ordering::Relaxed);
        loop {
            let grant = policy.bytes.saturating_sub(used).min(want);
            if grant == 0 {
                return 0;
            }
            match self.drained.compare_exchange_weak(
                used,
                used + grant,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return grant,
                Err(now) => used = now,
            }
        }
    }

    /// Gives back the part of a reservation that was not read.
    fn refund(&self, unused: u64) {
        self.drained.fetch_sub(unused, Ordering::AcqRel);
    }
}

/// Holds a connection busy while it lives: a request being served, its response being
/// written, or its refused body being drained.
pub struct InFlight(Arc<ConnState>);

impl InFlight {
    /// Marks one more thing in flight on `conn`.
    pub fn new(conn: &Arc<ConnState>) -> InFlight {
        conn.served.store(true, Ordering::Release);
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(conn.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Rounded up, and never moved back by a concurrent stream that ended earlier.
            let ms = u64::try_from(self.0.opened.elapsed().as_millis() + 1).unwrap_or(u64::MAX);
            self.0.idle_since_ms.fetch_max(ms, Ordering::AcqRel);
        }
    }
}

/// The part of a request body a handler did not read.
struct Leftover {
    body: Incoming,
    polled: bool,
    read: u64,
}

/// The request body handlers see: reads through to the connection, and hands what is left
/// back to [`Guarded`] when dropped unfinished.
pub struct Reader {
    body: Option<Incoming>,
    back: Option<oneshot::Sender<Leftover>>,
    polled: bool,
    ended: bool,
    read: u64,
}

impl http_body::Body for Reader {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        this.polled = true;
        let Some(body) = this.body.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(body).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                this.read += frame.data_ref().map_or(0, |d| d.len() as u64);
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.ended = true,
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map(http_body::Body::size_hint)
            .unwrap_or_else(|| SizeHint::with_exact(0))
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let (Some(body), Some(back)) = (self.body.take(), self.back.take()) {
            if !http_body::Body::is_end_stream(&body) {
                let _ = back.send(Leftover { body, polled: self.polled, read: self.read });
            }
        }
    }
}

/// A response body that holds its connection busy until it is written (or dropped).
struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's service: counts requests in flight and settles unread bodies before early
/// answers (see the module's documentation).
#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    conn: Arc<ConnState>,
    policy: DrainPolicy,
}

impl<S> Guarded<S> {
    /// Wraps the service of the connection `conn`.
    pub fn new(inner: S, conn: Arc<ConnState>, policy: DrainPolicy) -> Guarded<S> {
        Guarded { inner, conn, policy }
    }
}

impl<S> hyper::service::Service<Request<Incoming>> for Guarded<S>
where
    S: hyper::service::Service<Request<Reader>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let in_flight = InFlight::new(&self.conn);
        let (parts, body) = req.into_parts();
        let waits_for_continue = parts
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let h1 = parts.version <= Version::HTTP_11;
        let (back, leftover) = oneshot::channel();
        let reader =
            Reader { body: Some(body), back: Some(back), polled: false, ended: false, read: 0 };
        let answer = self.inner.call(Request::from_parts(parts, reader));
        let conn = self.conn.clone();
        let policy = self.policy;
        Box::pin(async move {
            let mut response = answer.await?;
            // The handler is done, so its body is dropped: an unfinished one is here now.
            if let Ok(left) = { leftover }.try_recv() {
                let settle = Settle { conn: &conn, policy, declared, waits_for_continue, h1 };
                settle.run(left, &mut response).await;
            }
            Ok(response.map(|inner| Body::new(Tracked { inner, _in_flight: in_flight })))
        })
    }
}

struct Settle<'a> {
    conn: &'a Arc<ConnState>,
    policy: DrainPolicy,
    declared: Option<u64>,
    waits_for_continue: bool,
    h1: bool,
}

enum Drained {
    End,
    Broken,
    OverAllowance,
}

impl Settle<'_> {
    async fn run(self, left: Leftover, response: &mut Response<Body>) {
        // The client waits for our word before uploading: it will not send the body.
        if self.waits_for_continue && !left.polled {
            return;
        }
        let Leftover { mut body, read, .. } = left;
        let remaining = self.declared.map(|n| n.saturating_sub(read));
        let status = response.status();
        if !matches!(status, StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS) {
            // Drain first when the rest fits what is left of the budget (or is of unknown length).
            let want = remaining.unwrap_or(u64::MAX);
            let granted = self.conn.reserve(self.policy, want);
            if granted > 0 && remaining.is_none_or(|r| r <= granted) {
                let drained =
                    tokio::time::timeout(self.policy.time, discard(&mut body, granted, self.conn))
                        .await;
                if matches!(drained, Ok(Drained::End | Drained::Broken)) {
                    return;
                }
            } else {
                self.conn.refund(granted);
            }
        }
        // Answer now; the connection does not carry another request after this one.
        if self.h1 {
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        // After the answer, discarding is the lingering close of this one request (both
        // protocols): up to LINGER_TIME and the connection's LINGER_BYTES (or the drain allowance,
        // if larger). Cut at the drain allowance, an HTTP/2 stream was reset under a client still
        // uploading, and curl 7.88 then drops the answer it had not read yet (exit 92).
        if self.policy.bytes == 0 {
            return;
        }
        let linger = DrainPolicy { bytes: self.policy.bytes.max(LINGER_BYTES), ..self.policy };
        let granted = self.conn.reserve(linger, remaining.unwrap_or(u64::MAX));
        if granted == 0 {
            return;
        }
        let in_flight = InFlight::new(self.conn);
        let conn = self.conn.clone();
        tokio::spawn(async move {
            let _in_flight = in_flight;
            let _ = tokio::time::timeout(LINGER_TIME, discard(&mut body, granted, &conn)).await;
        });
    }
}

/// Reads and discards `body` until its end, an error, or more than `granted` bytes (reserved
/// from the connection's budget; what is not read is given back, also on timeout).
async fn discard(body: &mut Incoming, granted: u64, conn: &ConnState) -> Drained {
    let mut refund = Refund { conn, left: granted };
    loop {
        match body.frame().await {
            None => return Drained::End,
            Some(Err(_)) => return Drained::Broken,
            Some(Ok(frame)) => {
                let n = frame.data_ref().map_or(0, |d| d.len() as u64);
                if n > refund.left {
                    refund.left = 0;
                    return Drained::OverAllowance;
                }
                refund.left -= n;
            }
        }
    }
}

/// Gives back the unread part of a reservation when the drain ends (or is cut by a timeout).
struct Refund<'a> {
    conn: &'a ConnState,
    left: u64,
}

impl Drop for Refund<'_> {
    fn drop(&mut self) {
        self.conn.refund(self.left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The most a test waits for an expiry that must come: long enough for a loaded machine.
    const AT_MOST: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_connection_without_requests_expires_at_the_first_limit_from_its_accept() {
        let conn = ConnState::new();
        let accepted = std::time::Instant::now();
        // The TLS handshake took a while before the watcher started: it still counts.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let watched = std::time::Instant::now();
        tokio::time::timeout(
            AT_MOST,
            conn.idle_expired(Duration::from_millis(700), Duration::from_secs(30)),
        )
        .await
        .expect("never expired");
        let (since_accept, since_watch) = (accepted.elapsed(), watched.elapsed());
        assert!(since_accept >= Duration::from_millis(700), "{since_accept:?}");
        // Counted from the watcher's start, it would be at least 700 ms after it.
        assert!(since_watch < Duration::from_millis(650), "{since_watch:?} after the watcher");
    }

    #[tokio::test]
    async fn a_request_in_flight_holds_the_connection_and_its_end_restarts_the_limit() {
        let conn = ConnState::new();
        let in_flight = InFlight::new(&conn);
        let watcher = conn.clone();
        let expired = tokio::spawn(async move {
            watcher.idle_expired(Duration::from_millis(50), Duration::from_millis(200)).await;
            std::time::Instant::now()
        });
        // Several idle limits pass with the request in flight: the timer fires and moves on.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(!expired.is_finished(), "expired with a request in flight");
        let ended = std::time::Instant::now();
        drop(in_flight);
        let at = tokio::time::timeout(AT_MOST, expired).await.expect("never expired").unwrap();
        let idle = at - ended;
        assert!(idle >= Duration::from_millis(200), "expired {idle:?} after the request ended");
    }

    #[tokio::test]
    async fn after_a_request_the_idle_limit_applies_even_when_the_first_is_longer() {
        let conn = ConnState::new();
        drop(InFlight::new(&conn));
        let ended = std::time::Instant::now();
        tokio::time::timeout(
            AT_MOST,
            conn.idle_expired(Duration::from_secs(30), Duration::from_millis(200)),
        )
        .await
        .expect("the 30 s first limit was used after a request");
        assert!(ended.elapsed() >= Duration::from_millis(200), "{:?}", ended.elapsed());
    }
}
