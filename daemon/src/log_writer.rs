//! Text log lines leave the daemon in batches: runtime threads append each formatted line to a
//! bounded buffer, and one writer thread writes what gathered at most every [`GATHER`].
//!
//! Why not `tracing_appender::non_blocking`: its worker wakes once per line (a futex wake on the
//! logging thread, then a spin through `sched_yield` before it parks again). With one traffic line
//! per request that was 12.5% of the daemon's CPU at concurrency 1, about 36 µs a request. Here
//! a line is a `memcpy` under an uncontended lock; the writer is woken once per batch, and only
//! when it was parked on an empty buffer, so an idle daemon has no timer wake-ups at all.
//!
//! Bounded: past [`BatchWriter::new`]'s byte capacity, lines are dropped (never waited for) and
//! counted; a slow or stopped reader of the sink never blocks a runtime thread. Memory is at most
//! twice the capacity: the buffer being filled and the one being written. The writer thread
//! reports drops as a warning at most every 10 s (and within 10 s of the last report), once the
//! sink is read again.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// How long the writer lets lines gather after the first one of a batch (5 ms): a line reaches
/// the sink this long after it was logged, plus the sink's time for the batch being written when
/// it arrived and for its own batch.
pub const GATHER: Duration = Duration::from_millis(5);

/// How long [`FlushGuard`]'s drop waits for the last batch to be written (1 s), so a stalled sink
/// cannot hold the daemon's exit.
const EXIT_WAIT: Duration = Duration::from_secs(1);

/// How often dropped lines are reported, at most (10 s).
const DROP_REPORT_EVERY: Duration = Duration::from_secs(10);

struct Pending {
    lines: Vec<u8>,
    /// The writer waits on `wake` for a first line (set and cleared under the lock, so a line that
    /// arrives while it is parked always wakes it, and no other line pays for a wake).
    parked: bool,
    closing: bool,
    done: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    finished: Condvar,
    capacity: usize,
    dropped: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding this lock can only be in `Vec::extend` (allocation failure, which
        // aborts): the buffer is always whole, so a poisoned lock is still safe to use.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The `MakeWriter` handed to `tracing_subscriber::fmt`: each event's formatted line is one
/// `write` call (the fmt layer formats a whole line, then writes it once), appended whole.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

/// Flushes what is gathered and stops the writer thread when dropped (waiting at most 1 s):
/// hold it until the daemon exits.
pub struct FlushGuard {
    shared: Arc<Shared>,
}

/// One line's writer, borrowed from [`BatchWriter`].
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl BatchWriter {
    /// A writer gathering at most `capacity` bytes of lines (lines past it are dropped and
    /// counted) in front of `sink`, written by a thread named `log writer`.
    ///
    /// # Errors
    /// The thread could not be started (`std::thread::Builder::spawn`).
    pub fn new<W: Write + Send + 'static>(
        sink: W,
        capacity: usize,
    ) -> std::io::Result<(BatchWriter, FlushGuard)> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                lines: Vec::new(),
                parked: false,
                closing: false,
                done: false,
            }),
            wake: Condvar::new(),
            finished: Condvar::new(),
            capacity,
            dropped: AtomicU64::new(0),
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("log writer".into())
            .spawn(move || write_batches(&worker, sink))?;
        Ok((BatchWriter { shared: shared.clone() }, FlushGuard { shared }))
    }

    /// Lines dropped so far because the buffer was full.
    pub fn dropped_lines(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { shared: &self.shared }
    }
}

impl Write for LineWriter<'_> {
    /// Appends `line` whole, or drops it whole when the buffer has no room; never blocks on the
    /// sink and never fails (a logging call has nowhere to report a failure).
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.shared.lock();
        if pending.lines.len() + line.len() > self.shared.capacity || pending.closing {
            drop(pending);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(line.len());
        }
        pending.lines.extend_from_slice(line);
        if pending.parked {
            pending.parked = false;
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        let mut pending = self.shared.lock();
        pending.closing = true;
        pending.parked = false;
        self.shared.wake.notify_one();
        let deadline = Instant::now() + EXIT_WAIT;
        while !pending.done {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            pending = self
                .shared
                .finished
                .wait_timeout(pending, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// The writer thread: park until a line arrives, let lines gather for [`GATHER`], write them in
/// one go (outside the lock), repeat; after the guard closes, write the rest and stop.
fn write_batches<W: Write>(shared: &Shared, mut sink: W) {
    let mut spare = Vec::new();
    let mut reported = 0;
    let mut last_report: Option<Instant> = None;
    loop {
        let mut pending = shared.lock();
        while pending.lines.is_empty() && !pending.closing {
            pending.parked = true;
            let unreported = shared.dropped.load(Ordering::Relaxed) > reported;
            if !unreported {
                // Idle with nothing to say: parked without a timeout on purpose, so an idle
                // daemon has no wake-ups; any line, and the guard's drop, wakes it.
                pending = shared.wake.wait(pending).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Drops not yet reported: wake when the next report is due, even if no line comes.
            let due = last_report
                .map_or(Duration::ZERO, |t| DROP_REPORT_EVERY.saturating_sub(t.elapsed()));
            if due.is_zero() {
                pending.parked = false;
                break;
            }
            pending = shared.wake.wait_timeout(pending, due).unwrap_or_else(|p| p.into_inner()).0;
        }
        let closing = pending.closing;
        drop(pending);
        if !closing {
            std::thread::sleep(GATHER);
        }
        let mut pending = shared.lock();
        let mut batch = std::mem::replace(&mut pending.lines, std::mem::take(&mut spare));
        let closing = pending.closing;
        drop(pending);
        // A sink that fails (stderr closed) loses this batch; nothing else can be done with it.
        let _ = sink.write_all(&batch).and_then(|()| sink.flush());
        batch.clear();
        spare = batch;
        if closing {
            let mut pending = shared.lock();
            if pending.lines.is_empty() {
                pending.done = true;
                shared.finished.notify_all();
                return;
            }
            continue;
        }
        let dropped = shared.dropped.load(Ordering::Relaxed);
        if dropped > reported && last_report.is_none_or(|t| t.elapsed() >= DROP_REPORT_EVERY) {
            tracing::warn!(
                dropped = dropped - reported,
                "log lines were dropped: the log's reader (journald or a log collector) did not keep up"
            );
            reported = dropped;
            last_report = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A sink that hands every write to the test, optionally saying it started one and held by
    /// a gate first.
    #[derive(Clone)]
    struct Sink {
        got: Arc<Mutex<Vec<u8>>>,
        gate: Option<Arc<Mutex<()>>>,
        started: Option<mpsc::Sender<()>>,
    }

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if let Some(started) = &self.started {
                let _ = started.send(());
            }
            if let Some(gate) = &self.gate {
                drop(gate.lock().unwrap());
            }
            self.got.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn line(w: &BatchWriter, text: &str) {
        w.make_writer().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_and_each_thread_in_order() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let (w, guard) =
            BatchWriter::new(Sink { got: got.clone(), gate: None, started: None }, 1 << 20)
                .unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let w = w.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        line(&w, &format!("thread {t} line {i:04} {}\n", "x".repeat(i % 50)));
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        drop(guard);
        let text = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2000);
        for t in 0..4 {
            let mine: Vec<usize> = lines
                .iter()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .map(|l| {
                    let mut parts = l.split(' ');
                    let n: usize = parts.nth(3).unwrap().parse().unwrap();
                    assert_eq!(parts.next().unwrap_or(""), "x".repeat(n % 50), "{l}");
                    n
                })
                .collect();
            assert_eq!(mine, (0..500).collect::<Vec<_>>());
        }
        assert_eq!(w.dropped_lines(), 0);
    }

    #[test]
    fn a_stalled_sink_never_blocks_a_logging_thread_and_drops_are_counted() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let (started, writing) = mpsc::channel();
        let sink = Sink { got: got.clone(), gate: Some(gate.clone()), started: Some(started) };
        let (w, guard) = BatchWriter::new(sink, 100).unwrap();
        // The first line is taken by the writer, which then stalls on the sink.
        line(&w, "first\n");
        writing.recv_timeout(Duration::from_secs(5)).expect("the writer never wrote");
        // With the sink stalled, 100 bytes gather and the rest is dropped, without waiting.
        let (tx, rx) = mpsc::channel();
        let w2 = w.clone();
        std::thread::spawn(move || {
            for i in 0..50 {
                line(&w2, &format!("line {i:02}\n"));
            }
            tx.send(()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(5)).expect("logging blocked on a stalled sink");
        assert_eq!(w.dropped_lines(), 50 - 100 / 8);
        drop(held);
        drop(guard);
        let text = String::from_utf8(got.lock().unwrap().clone()).unwrap();
        let want: String = std::iter::once("first\n".to_string())
            .chain((0..12).map(|i| format!("line {i:02}\n")))
            .collect();
        assert_eq!(text, want);
    }

    #[test]
    fn a_lone_line_is_written_within_the_gather_time_without_a_flush() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let (w, _guard) =
            BatchWriter::new(Sink { got: got.clone(), gate: None, started: None }, 1 << 16)
                .unwrap();
        std::thread::sleep(GATHER * 2);
        line(&w, "alone\n");
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.lock().unwrap().is_empty() {
            assert!(Instant::now() < deadline, "a parked writer was not woken by a line");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(&got.lock().unwrap()[..], b"alone\n");
    }
}
