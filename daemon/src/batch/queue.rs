//! The bounded queue in front of a deployment's model instances.

use std::sync::Arc;
use std::time::Duration;

use edgeserve_accel::{AccelError, LoadedModel, Tensor};
use tokio::sync::oneshot;

use super::inline::{cost_units, elements, timed, Pace, Slot};
use super::worker;

/// What a job's submitter receives: the outputs, one tensor per model output, or the error.
pub type Reply = Result<Vec<Tensor>, AccelError>;

/// One request waiting to run.
pub struct Job {
    /// One tensor per model input, in signature order, batch (rows) first.
    pub inputs: Vec<Tensor>,
    /// Where the worker sends the outputs or the error; dropped unanswered if the job is.
    pub reply: oneshot::Sender<Reply>,
}

/// How a deployment's workers batch requests (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// The most rows (dim 0, summed over requests) one run takes; 1 turns batching off.
    pub max_rows: usize,
    /// The longest a worker waits, after taking a batch's first job, for more to fill it.
    pub window: Duration,
    /// Smaller run sizes proven equivalent to `max_rows` at load (`probe.rs`): bit `k` set means
    /// a run of at most `run_sizes(max_rows)[k]` rows may be padded to that size instead of
    /// `max_rows`, because the backend gives every row bit-identical outputs at both sizes.
    /// 0: every run is padded to `max_rows`.
    pub buckets: u32,
}

impl BatchPolicy {
    /// One request per run.
    pub const OFF: BatchPolicy = BatchPolicy { max_rows: 1, window: Duration::ZERO, buckets: 0 };

    /// Batching up to `max_rows` rows within `window`, every run padded to `max_rows`.
    pub fn new(max_rows: usize, window: Duration) -> BatchPolicy {
        BatchPolicy { max_rows, window, buckets: 0 }
    }

    /// The rows a run of `rows` rows is padded to: the smallest proven bucket that holds them,
    /// else `max_rows`; `rows` itself when batching is off or the run is larger than
    /// `max_rows` (a large request runs alone at its own size).
    pub fn run_rows(&self, rows: usize) -> usize {
        if self.max_rows <= 1 || rows >= self.max_rows {
            return rows;
        }
        self.proven_sizes().find(|&b| b >= rows).unwrap_or(self.max_rows)
    }

    /// The run sizes below `max_rows` proven at load ([`BatchPolicy::buckets`]), ascending;
    /// computed as it goes, without allocating (it is asked on every request).
    pub fn proven_sizes(&self) -> impl Iterator<Item = usize> + '_ {
        sizes(self.max_rows)
            .enumerate()
            .filter(|(k, _)| self.buckets & (1 << k) != 0)
            .map(|(_, s)| s)
    }
}

/// The run sizes below `max_rows` a model may be proven at, ascending: the powers of two, then
/// the quarter points between the largest of them and `max_rows` (16, then 20, 24 and 28 below
/// 32). Under load most batches land in that top stretch, where padding to `max_rows` alone
/// would compute up to half of each run for nothing (a 21-row batch padded to 32). At most 31
/// sizes, so a `u32` mask ([`BatchPolicy::buckets`]) indexes them.
pub fn run_sizes(max_rows: usize) -> Vec<usize> {
    sizes(max_rows).collect()
}

/// [`run_sizes`] as an iterator, computed as it goes.
fn sizes(max_rows: usize) -> impl Iterator<Item = usize> {
    let powers = (0..28).map(|k| 1usize << k).take_while(move |&size| size < max_rows);
    let top = powers.clone().last();
    let quarters = top.into_iter().flat_map(move |top| {
        // Quarter points ascend but may repeat (or equal `top`) when few rows lie above it.
        (1..4).map(move |q| top + (max_rows - top) * q / 4).scan(top, move |last, size| {
            let new = size > *last && size < max_rows;
            *last = (*last).max(size);
            Some(new.then_some(size))
        })
    });
    powers.chain(quarters.flatten())
}

/// The queue was full: the caller answers 503 at once rather than waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// Why a request got no outputs from [`Runner::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunError {
    /// The queue was full (answered 503 at once).
    QueueFull,
    /// No answer within the request timeout.
    Timeout,
    /// The worker dropped the request unanswered (a bug: answered 500).
    Dropped,
}

/// A deployment's queue and the worker threads draining it. Dropping it stops the workers once
/// they have finished every job already queued.
pub struct Runner {
    tx: crossbeam_channel::Sender<Job>,
    capacity: usize,
    label: String,
    policy: BatchPolicy,
    slots: Vec<Arc<Slot>>,
    pace: Arc<Pace>,
}

impl Runner {
    /// Starts one worker thread per instance behind a queue of `max_queue` waiting jobs,
    /// batching by `policy`.
    pub fn start(
        label: &str,
        instances: Vec<Box<dyn LoadedModel>>,
        max_queue: usize,
        policy: BatchPolicy,
    ) -> Result<Runner, std::io::Error> {
        Self::start_with(label, instances, max_queue, policy, std::thread::Builder::new)
    }

    /// [`Runner::start`] with worker threads made from `builder()` (tests make one fail).
    /// If any worker cannot start, those started stop again and the error is returned.
    pub(crate) fn start_with(
        label: &str,
        instances: Vec<Box<dyn LoadedModel>>,
        max_queue: usize,
        policy: BatchPolicy,
        builder: fn() -> std::thread::Builder,
    ) -> Result<Runner, std::io::Error> {
        let capacity = max_queue.max(1);
        let (tx, rx) = crossbeam_channel::bounded::<Job>(capacity);
        let pace = Arc::new(Pace::new());
        let slots: Vec<Arc<Slot>> = instances.into_iter().map(|m| Arc::new(Slot::new(m))).collect();
        for (i, slot) in slots.iter().enumerate() {
            let ctx = worker::Context { rx: rx.clone(), policy, pace: pace.clone() };
            // On error `tx` is dropped on return, so the workers already started stop.
            worker::spawn(format!("{label}#{i}"), slot.clone(), ctx, builder())?;
        }
        Ok(Runner { tx, capacity, label: label.to_string(), policy, slots, pace })
    }

    /// Runs a request: at once on the caller's thread when its deployment is idle and the run
    /// is predicted to be short (the conditions are in `inline.rs`: within
    /// [`super::INLINE_BUDGET`] by measured costs), otherwise through the queue, waiting at most
    /// `timeout` for the answer. Dropping the future gives the request up (a queued job whose
    /// caller has gone is not run).
    pub async fn run(&self, inputs: Vec<Tensor>, timeout: Duration) -> Result<Reply, RunError> {
        let rows = inputs.first().map(Tensor::rows).unwrap_or(1);
        let units = cost_units(elements(&inputs), rows, &self.policy);
        let waiting = self.pace.enter();
        if self.pace.inline_ok(units, self.tx.len()) {
            if let Some(mut model) = self.slots.iter().find_map(|s| s.try_lock()) {
                let (reply, took) =
                    timed(|| worker::run_once(&self.label, model.as_mut(), inputs, &self.policy));
                drop(model);
                if reply.is_ok() {
                    self.pace.lone(units, took);
                }
                return Ok(reply);
            }
        }
        let rx = self.submit(inputs).map_err(|_| RunError::QueueFull)?;
        let answer = tokio::time::timeout(timeout, rx).await;
        drop(waiting);
        match answer {
            Err(_) => Err(RunError::Timeout),
            Ok(Err(_)) => Err(RunError::Dropped),
            Ok(Ok(reply)) => Ok(reply),
        }
    }

    /// Queues a job without waiting; the receiver yields its result.
    pub fn submit(&self, inputs: Vec<Tensor>) -> Result<oneshot::Receiver<Reply>, QueueFull> {
        let (reply, rx) = oneshot::channel();
        let job = Job { inputs, reply };
        self.tx.try_send(job).map_err(|_| QueueFull)?;
        Ok(rx)
    }

    /// Jobs waiting now.
    pub fn depth(&self) -> usize {
        self.tx.len()
    }

    /// The most jobs that may wait.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}
