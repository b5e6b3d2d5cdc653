//! Worker threads: each serves one model instance (shared with inline runs, `inline.rs`),
//! gathers jobs off the queue into batches (the policy is in the module doc of `batch`) and runs
//! them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};
use edgeserve_accel::{AccelError, LoadedModel, Tensor};

use super::gather::{split_outputs, Batch};
use super::inline::{cost_units, elements, timed, Pace, Slot};
use super::queue::{BatchPolicy, Job};

/// What a worker shares with its deployment's [`super::Runner`].
pub(super) struct Context {
    pub rx: Receiver<Job>,
    pub policy: BatchPolicy,
    /// Load and run cost, read by inline runs (`inline.rs`).
    pub pace: Arc<Pace>,
}

/// Starts a named worker thread that runs jobs until the queue's sender is gone and it is empty.
/// Fails when the thread cannot be created (no memory or thread slots): the deployment is then
/// `Failed` rather than serving with too few workers.
pub(super) fn spawn(
    name: String,
    slot: Arc<Slot>,
    ctx: Context,
    builder: std::thread::Builder,
) -> std::io::Result<()> {
    let builder = builder.name(format!("es-{name}"));
    let spawned = builder.spawn(move || {
        let mut next: Option<Job> = None;
        let mut previous_jobs = 1;
        loop {
            let first = match next.take() {
                Some(job) => job,
                None => match ctx.rx.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
            };
            if first.reply.is_closed() {
                // The client gave up (timeout or disconnect): do not spend the device on it.
                continue;
            }
            let (batch, carried) = gather(first, &ctx, previous_jobs);
            next = carried;
            previous_jobs = batch.jobs.len();
            run_batch(&name, &slot, batch, &ctx);
        }
        tracing::debug!(worker = %name, "worker stopped");
    });
    spawned.map(drop)
}

/// Gathers a batch from `first`: what is queued now, then, when more requests are likely, what
/// arrives within the window. Returns the batch and a job that could not join it, if any.
fn gather(first: Job, ctx: &Context, previous_jobs: usize) -> (Batch, Option<Job>) {
    let started = Instant::now();
    let BatchPolicy { max_rows, window, .. } = ctx.policy;
    let mut batch = Batch::new(first);
    while batch.open(max_rows) {
        let job = match ctx.rx.try_recv() {
            Ok(job) => job,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                // Wait only for clients the last batch had and this one has not heard from yet.
                // Once a batch holds as many jobs as the last, every client of a closed loop is
                // in it and waiting would only delay them all (at concurrency 8 the window cost
                // each request the whole window). Jobs held by other instances' workers are not
                // counted: they can never join this batch.
                let likely = batch.jobs.len() < previous_jobs;
                let Some(left) = window.checked_sub(started.elapsed()) else { break };
                if !likely || left.is_zero() {
                    break;
                }
                match ctx.rx.recv_timeout(left) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        if job.reply.is_closed() {
            continue;
        }
        if let Err(job) = batch.try_push(job, max_rows) {
            return (batch, Some(job));
        }
    }
    (batch, None)
}

/// Runs one model call, turning a panic into an error; observes its rows. A run of fewer rows
/// than `policy.run_rows` gives is padded with zero rows to that many and its outputs sliced
/// back, so a row's result never depends on how many rows share its run (see `probe.rs`).
pub(super) fn run_once(
    name: &str,
    model: &mut dyn LoadedModel,
    inputs: Vec<Tensor>,
    policy: &BatchPolicy,
) -> super::queue::Reply {
    let rows = inputs.first().map(Tensor::rows).unwrap_or(0);
    let pad_to = policy.run_rows(rows);
    crate::metrics::observe_batch(rows);
    let padded = pad_to > rows && inputs.iter().all(|t| t.rows() == rows);
    let inputs = if padded {
        inputs.into_iter().map(|t| t.pad_rows(pad_to)).collect::<Result<Vec<_>, _>>()?
    } else {
        inputs
    };
    let outputs = catch_unwind(AssertUnwindSafe(|| model.run(inputs))).unwrap_or_else(|_| {
        tracing::error!(worker = %name, "backend panicked while running a batch");
        Err(AccelError::Internal("backend panicked while running a batch".into()))
    })?;
    if !padded {
        return Ok(outputs);
    }
    outputs.into_iter().map(|t| t.slice_rows(0..rows)).collect()
}

/// Runs a batch and answers each job; a merged batch that fails is run again job by job, so
/// only the failing request gets the error. The model is held only while it runs (answers are
/// sent after it is released, so a caller answered can run its next request inline at once),
/// and the run's time goes to the deployment's [`Pace`].
fn run_batch(name: &str, slot: &Slot, mut batch: Batch, ctx: &Context) {
    let policy = &ctx.policy;
    batch.drop_abandoned();
    if batch.jobs.is_empty() {
        return;
    }
    let jobs = batch.jobs.len();
    let size: usize = batch.jobs.iter().map(|j| elements(&j.inputs)).sum();
    let units = cost_units(size, batch.total(), policy);
    let split = batch
        .stacked_inputs()
        .and_then(|inputs| {
            let mut model = slot.lock();
            let (outputs, took) = timed(|| run_once(name, model.as_mut(), inputs, policy));
            drop(model);
            ctx.pace.ran(jobs, units, took, outputs.is_ok());
            outputs
        })
        .and_then(|outputs| split_outputs(outputs, &batch.rows));
    match split {
        Ok(per_job) => {
            for (job, outputs) in batch.jobs.into_iter().zip(per_job) {
                let _ = job.reply.send(Ok(outputs));
            }
        }
        Err(e) if batch.jobs.len() == 1 => {
            let _ = batch.jobs.remove(0).reply.send(Err(e));
        }
        Err(e) => {
            tracing::warn!(worker = %name, jobs = batch.jobs.len(), error = %e, "a merged batch failed; running its requests one by one");
            for job in batch.jobs {
                if job.reply.is_closed() {
                    continue;
                }
                let Job { inputs, reply } = job;
                let outputs = run_once(name, slot.lock().as_mut(), inputs, policy);
                let _ = reply.send(outputs);
            }
        }
    }
}
