//! Lingering close (RFC 9112 §9.6): when the server closes a connection, it first shuts down
//! only its sending side and then reads and discards what the client is still sending, for a
//! bounded time and byte count, before closing the socket.
//!
//! A socket closed with unread data in its receive buffer makes the kernel answer with a
//! reset, and the client's kernel then throws away the response it had not read yet: a client
//! that uploads a body the server refused would see `Connection reset by peer`, a broken pipe
//! or `EOF occurred in violation of protocol` instead of the 401 or 413 the server wrote.
//! [`Linger`] sits directly on the socket (under TLS), so the discarded bytes are never
//! decrypted.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Longest a closing connection keeps reading what the client still sends.
pub const LINGER_TIME: Duration = Duration::from_secs(5);

/// A closing connection stops lingering once the client has sent nothing for this long.
pub const LINGER_QUIET: Duration = Duration::from_secs(1);

/// Most bytes a closing connection reads and discards (unless `limits.early_answer_drain_bytes`
/// is larger). Like nginx's `lingering_time`, the bound that matters is [`LINGER_TIME`]: a
/// byte cap as small as the drain allowance closed the socket under a client still uploading
/// the rest of a refused body, and the reset could reach it before it had read the answer
/// (curl exit 55, `Send failure: Broken pipe`). Discarding happens under TLS, undecrypted.
pub const LINGER_BYTES: u64 = 64 << 20;

/// The bounds of one lingering close.
#[derive(Debug, Clone, Copy)]
pub struct LingerBounds {
    /// Longest time spent reading after the sending side is shut down.
    pub time: Duration,
    /// The read stops when nothing arrived for this long.
    pub quiet: Duration,
    /// Most bytes read and discarded.
    pub bytes: u64,
}

enum State {
    Open,
    Lingering { deadline: Pin<Box<Sleep>>, quiet: Pin<Box<Sleep>>, left: u64 },
    Closed,
}

/// A connection whose `shutdown` lingers (see the module's documentation).
pub struct Linger<IO> {
    io: IO,
    bounds: LingerBounds,
    state: State,
}

impl<IO> Linger<IO> {
    /// Wraps a freshly accepted socket.
    pub fn new(io: IO, bounds: LingerBounds) -> Linger<IO> {
        Linger { io, bounds, state: State::Open }
    }

    /// The socket inside.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Linger<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Linger<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Open => {
                    let shut = ready!(Pin::new(&mut this.io).poll_shutdown(cx));
                    if shut.is_err() || this.bounds.bytes == 0 || this.bounds.time.is_zero() {
                        this.state = State::Closed;
                        return Poll::Ready(shut);
                    }
                    let now = Instant::now();
                    this.state = State::Lingering {
                        deadline: Box::pin(tokio::time::sleep_until(now + this.bounds.time)),
                        quiet: Box::pin(tokio::time::sleep_until(now + this.bounds.quiet)),
                        left: this.bounds.bytes,
                    };
                }
                State::Lingering { deadline, quiet, left } => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        this.state = State::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 8192];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut this.io).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                            *left = left.saturating_sub(buf.filled().len() as u64);
                            if *left == 0 {
                                this.state = State::Closed;
                            } else {
                                quiet.as_mut().reset(Instant::now() + this.bounds.quiet);
                            }
                        }
                        // The client closed too (or the socket failed): nothing to protect.
                        Poll::Ready(_) => this.state = State::Closed,
                        Poll::Pending => {
                            if quiet.as_mut().poll(cx).is_ready() {
                                this.state = State::Closed;
                                continue;
                            }
                            return Poll::Pending;
                        }
                    }
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn bounds() -> LingerBounds {
        LingerBounds {
            time: Duration::from_secs(2),
            quiet: Duration::from_millis(300),
            bytes: 1 << 20,
        }
    }

    #[tokio::test]
    async fn unread_data_does_not_reset_the_answer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut s = Linger::new(s, bounds());
            // Reads nothing of the upload, answers and closes.
            s.write_all(b"answer").await.unwrap();
            s.shutdown().await.unwrap();
        });
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        // An upload the server never reads, larger than the socket buffers.
        let upload = vec![b'x'; 512 * 1024];
        let (mut r, mut w) = c.split();
        let (sent, got) = tokio::join!(w.write_all(&upload), async {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.map(|_| got)
        });
        assert!(sent.is_ok(), "the upload was reset: {sent:?}");
        assert_eq!(got.unwrap(), b"answer");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_quiet_client_ends_the_linger() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (s, _) = listener.accept().await.unwrap();
        let mut s = Linger::new(s, bounds());
        let started = std::time::Instant::now();
        s.shutdown().await.unwrap();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(2), "{took:?}");
    }
}
