//! `edgeserve bench`: a keep-alive load generator for the data plane (SPEC §6). It talks to the
//! scoring listener directly (the control socket only helps find the URL, key and CA), closed
//! loop (fixed concurrency) or open loop (fixed rate, latency from the intended start so a slow
//! server cannot hide its queue), and reports req/s, HDR-histogram percentiles and errors.

pub mod conn;
pub mod plan;
pub mod report;
pub mod request;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::Full;

pub use plan::{resolve, Plan};
pub use report::Report;
use report::{Setup, Tally};

/// Why a bench run could not start; each names the fix.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot read the request file {path}: {source} (give an existing file with -r)")]
    /// The request file (`-r`) cannot be read.
    RequestFile {
        /// The `-r` file.
        path: PathBuf,
        /// The read's error.
        source: std::io::Error,
    },
    #[error("request file {path}: {reason}")]
    /// The request file is not a body the target takes (not JSON, no JSON header for binary).
    RequestBody {
        /// The `-r` file.
        path: PathBuf,
        /// What is wrong with its content.
        reason: String,
    },
    #[error(
        "bad URL {url:?}: {reason} (e.g. --url https://localhost:8443/api/v1/service/NAME/score)"
    )]
    /// The URL is not an `http(s)://host:port/path` URL.
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    #[error("cannot resolve {host}: {reason} (check --host or the URL)")]
    /// The host name does not resolve.
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    #[error("bad --header {0:?}: write it NAME:VALUE, e.g. --header 'x-deployment: green'")]
    /// An `--header` value is not `NAME:VALUE`.
    Header(String),
    #[error("{0}")]
    /// Options that contradict each other or are out of range; the message names them.
    Option(String),
    #[error("cannot read the CA file {path}: {source} (give a PEM file with --cacert)")]
    /// The `--cacert` file cannot be read.
    CaFile {
        /// The `--cacert` file.
        path: PathBuf,
        /// The read's error.
        source: std::io::Error,
    },
    #[error("no CA certificate in {from}: {reason} (give a PEM CA file with --cacert)")]
    /// The CA (from a file, or the daemon's chain) holds no usable certificate.
    BadCa {
        /// Where the CA came from (the file, or the daemon's socket).
        from: String,
        /// Why no certificate could be used.
        reason: String,
    },
    #[error(
        "no certificate to trust: give --cacert FILE (e.g. `edgeserve tls show --ca-pem > ca.pem` \
         on the box), or --insecure for a development server"
    )]
    /// TLS without `--cacert`, `--insecure` or a chain from the control socket.
    NoTrust,
    #[error("TLS setup: {0}")]
    /// The TLS client cannot be set up.
    Tls(String),
    #[error("cannot connect to {addr}: {reason}")]
    /// The first connection to `addr` failed, so no load was sent.
    Connect {
        /// The resolved address.
        addr: String,
        /// The connect, TLS or HTTP handshake error.
        reason: String,
    },
    #[error("cannot start the load generator: {0}")]
    /// The load generator's threads cannot be started.
    Runtime(std::io::Error),
}

/// What every worker shares.
struct Shared {
    plan: Plan,
    /// Requests started, warm-up included (the open loop's schedule index).
    started: AtomicU64,
    /// Measured requests started (for `--requests`).
    measured: AtomicU64,
    /// Answers so far, for the progress line.
    answered: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
    begin: Instant,
    measure_from: Instant,
    deadline: Option<Instant>,
}

/// Resolves the arguments (asking the control socket at `socket` for what they leave open),
/// runs the load on its own runtime and returns the report. Notes about where the URL, key or
/// CA came from go to stderr (never the key itself); `progress` adds a line per second there.
pub fn bench(
    args: &crate::cli::args::BenchArgs,
    socket: &std::path::Path,
    progress: bool,
) -> Result<Report, BenchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .map_err(BenchError::Runtime)?;
    runtime.block_on(async {
        let plan = resolve(args, socket).await?;
        for note in &plan.notes {
            eprintln!("edgeserve bench: {note}");
        }
        run_async(plan, progress).await
    })
}

async fn run_async(plan: Plan, progress: bool) -> Result<Report, BenchError> {
    // One connection first: a refused port or a failed handshake is named before any load.
    let first = plan.connector.connect().await.map_err(|e| BenchError::Connect {
        addr: plan.connector.addr.to_string(),
        reason: connect_hint(&e, plan.connector.tls.is_some()),
    })?;
    let mut h2_pool = Vec::new();
    let mut h1_first = None;
    match first {
        conn::Sender::H2(s) => {
            h2_pool.push(s);
            for _ in 1..plan.connections.max(1) {
                match plan.connector.connect().await {
                    Ok(conn::Sender::H2(s)) => h2_pool.push(s),
                    Ok(conn::Sender::H1(_)) => {}
                    Err(e) => {
                        return Err(BenchError::Connect {
                            addr: plan.connector.addr.to_string(),
                            reason: e.to_string(),
                        })
                    }
                }
            }
        }
        h1 => h1_first = Some(h1),
    }
    let begin = Instant::now();
    let measure_from = begin + plan.warmup;
    let deadline = plan.duration.map(|d| measure_from + d);
    let setup = Setup {
        url: plan.url.clone(),
        body: plan.body.kind.label(),
        protocol: if plan.connector.http2 { "h2" } else { "http/1.1" },
        concurrency: plan.concurrency,
        rate: plan.rate,
    };
    let concurrency = plan.concurrency.max(1);
    let shared = Arc::new(Shared {
        plan,
        started: AtomicU64::new(0),
        measured: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        begin,
        measure_from,
        deadline,
    });
    let mut workers = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let h2 = (!h2_pool.is_empty()).then(|| h2_pool[i % h2_pool.len()].clone());
        let sender = if i == 0 { h1_first.take() } else { None };
        workers.push(tokio::spawn(worker(shared.clone(), sender, h2)));
    }
    let ticker = progress.then(|| tokio::spawn(show_progress(shared.clone())));
    let mut tally = Tally::new();
    for w in workers {
        if let Ok(t) = w.await {
            tally.merge(t);
        }
    }
    let end = Instant::now();
    shared.stop.store(true, Ordering::Relaxed);
    if let Some(t) = ticker {
        t.abort();
        eprint!("\r\x1b[2K");
    }
    let elapsed = end.saturating_duration_since(shared.measure_from);
    Ok(Report::new(setup, &tally, elapsed))
}

/// A connection failure with the fix for its kind.
fn connect_hint(e: &conn::ConnectError, tls: bool) -> String {
    match e {
        conn::ConnectError::Tcp(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!(
                "{e}: nothing listens there (is edgeserved running? check --host/--port or --url{})",
                if tls { "; the plain FPGA listener needs --plain" } else { "" }
            )
        }
        conn::ConnectError::Tls(_) => format!(
            "{e}: the server's certificate is not trusted or does not name this host (give \
             --cacert with the box's CA, e.g. from `edgeserve tls show --ca-pem`, use the \
             certificate's name as --host, or --insecure for development; is it the plain \
             listener? then use --plain)"
        ),
        _ => e.to_string(),
    }
}

/// One request in flight at a time, on its own connection (HTTP/1.1) or a shared one (h2).
async fn worker(
    shared: Arc<Shared>,
    mut sender: Option<conn::Sender>,
    h2: Option<hyper::client::conn::http2::SendRequest<Full<Bytes>>>,
) -> Tally {
    let plan = &shared.plan;
    let mut tally = Tally::new();
    loop {
        let i = shared.started.fetch_add(1, Ordering::Relaxed);
        let intended = match plan.rate {
            Some(rate) => shared.begin + Duration::from_secs_f64(i as f64 / rate),
            None => Instant::now(),
        };
        if shared.deadline.is_some_and(|d| intended >= d) {
            break;
        }
        if plan.rate.is_some() {
            tokio::time::sleep_until(intended.into()).await;
        }
        let measured = intended >= shared.measure_from;
        if measured {
            if let Some(limit) = plan.requests {
                if shared.measured.fetch_add(1, Ordering::Relaxed) >= limit {
                    break;
                }
            }
        }
        if sender.as_ref().is_none_or(conn::Sender::is_closed) {
            sender = match &h2 {
                Some(s) if !s.is_closed() => Some(conn::Sender::H2(s.clone())),
                _ => match plan.connector.connect().await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        if measured {
                            tally.failure(e.kind());
                        }
                        shared.failed.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
            };
        }
        let Some(s) = sender.as_mut() else { continue };
        // Closed loop: from the actual send. Open loop: from the intended send, queueing included.
        let from = if plan.rate.is_some() { intended } else { Instant::now() };
        let outcome = tokio::time::timeout(plan.request_timeout, s.send(request(plan))).await;
        let latency = from.elapsed();
        match outcome {
            Ok(Ok(status)) => {
                if measured {
                    tally.answer(status, latency);
                }
                shared.answered.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => {
                if measured {
                    tally.failure(if e.is_timeout() { "timeout" } else { "io" });
                }
                shared.failed.fetch_add(1, Ordering::Relaxed);
                sender = None;
            }
            Err(_) => {
                if measured {
                    tally.failure("timeout");
                }
                shared.failed.fetch_add(1, Ordering::Relaxed);
                sender = None;
            }
        }
    }
    tally
}

/// The request, ready to send (the body's bytes are shared, not copied).
fn request(plan: &Plan) -> hyper::Request<Full<Bytes>> {
    let mut request = hyper::Request::new(Full::new(plan.body.bytes.clone()));
    *request.method_mut() = hyper::Method::POST;
    *request.uri_mut() = plan.request_uri.clone();
    *request.headers_mut() = plan.headers.clone();
    request
}

/// A progress line on stderr once per second (only on a terminal).
async fn show_progress(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        let phase = if now < shared.measure_from { "warm-up" } else { "measuring" };
        let secs = now.duration_since(shared.begin).as_secs_f64();
        let answered = shared.answered.load(Ordering::Relaxed);
        eprint!(
            "\r\x1b[2K{phase} {secs:.0}s: {answered} answered ({:.0}/s), {} failed",
            answered as f64 / secs.max(0.001),
            shared.failed.load(Ordering::Relaxed)
        );
    }
}
