//! Running a lone request on the caller's thread: when its deployment is idle and the run is
//! measured to be short, the two thread hand-offs (to a worker and back) cost more than the run.
//!
//! A request runs inline only when all of these hold, and otherwise joins the queue as before:
//!
//! - the deployment is calm: each of the last [`CALM_STREAK`] requests to it found no other
//!   request queued, running or waiting for its answer to be picked up. Under concurrency
//!   requests overlap, the streak breaks, and the worker pipeline (with batching) takes them:
//!   at concurrency 32 with batching off, inline runs taken whenever the deployment happened
//!   to be idle cost 9% of the throughput, though only 5% of requests ran inline;
//! - nothing is queued and no other request is in flight now;
//! - its predicted run time, its input elements times the measured cost per input element of
//!   lone runs, is within [`BUDGET`] (elements, not rows, so a one-row request with a long
//!   dynamic dimension, a sequence say, is predicted long: costs that grow faster than the
//!   input, such as attention over a sequence, are the predictor's blind spot), about what parsing a request costs the runtime thread anyway (tokio's guidance
//!   for work between two awaits is 10–100 µs); a long run never holds a runtime thread;
//! - the backend's runs are host computation only ([`LoadedModel::host_only`]: the CPU target),
//!   never a wait on a device or driver that could stall a runtime thread for as long as the
//!   device does;
//! - a model instance is free (its worker is not running a batch).
//!
//! The run is the same call a worker makes (`worker::run_once`: same padding, same panic
//! catching), so the response is byte-identical to the queued one.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use edgeserve_accel::LoadedModel;

/// The longest a run may be predicted to take and still run on the caller's (runtime) thread.
pub const BUDGET: Duration = Duration::from_micros(100);

/// How many requests in a row must have found the deployment idle before one runs inline.
pub const CALM_STREAK: usize = 16;

/// One model instance, shared by its worker thread and inline runs; whoever runs holds it.
pub(super) struct Slot {
    model: Mutex<Box<dyn LoadedModel>>,
    /// The instance's [`LoadedModel::host_only`], read once.
    host_only: bool,
}

impl Slot {
    pub fn new(model: Box<dyn LoadedModel>) -> Slot {
        Slot { host_only: model.host_only(), model: Mutex::new(model) }
    }

    /// Whether this instance may run on a caller's thread.
    pub fn host_only(&self) -> bool {
        self.host_only
    }

    /// The model, waiting for an inline run to finish (at most about [`BUDGET`]).
    pub fn lock(&self) -> MutexGuard<'_, Box<dyn LoadedModel>> {
        // Runs catch panics inside the lock (`run_once`), so a poisoned lock holds a sound model.
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The model if nobody is running it now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, Box<dyn LoadedModel>>> {
        match self.model.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

/// What a deployment's workers and inline runs learn about its load and run cost.
pub(super) struct Pace {
    /// Requests in [`super::Runner::run`] now (inline or waiting for an answer).
    in_flight: AtomicUsize,
    /// Requests in a row that found no other in flight when they came.
    calm: AtomicUsize,
    /// Measured wall time of a lone run per input element, in picoseconds (a moving average);
    /// `u64::MAX` until the first lone run, so the first requests go to the workers.
    picos_per_element: AtomicU64,
}

impl Pace {
    pub fn new() -> Pace {
        Pace {
            in_flight: AtomicUsize::new(0),
            calm: AtomicUsize::new(0),
            picos_per_element: AtomicU64::new(u64::MAX),
        }
    }

    /// Counts a request in until the guard is dropped.
    pub fn enter(&self) -> InFlight<'_> {
        if self.in_flight.fetch_add(1, Ordering::Relaxed) == 0 {
            self.calm.fetch_add(1, Ordering::Relaxed);
        } else {
            self.calm.store(0, Ordering::Relaxed);
        }
        InFlight(self)
    }

    /// A worker ran a batch of `jobs` requests, `elements` input elements in all, in `took`.
    pub fn ran(&self, jobs: usize, elements: usize, took: Duration) {
        if jobs == 1 {
            self.lone(elements, took);
        }
    }

    /// A lone run of `elements` input elements took `took`: the cost per element moves a
    /// quarter of the way to it.
    pub fn lone(&self, elements: usize, took: Duration) {
        let picos = took.as_nanos().saturating_mul(1000) / elements.max(1) as u128;
        let sample = u64::try_from(picos).unwrap_or(u64::MAX - 1).min(u64::MAX - 1);
        let old = self.picos_per_element.load(Ordering::Relaxed);
        let new = if old == u64::MAX { sample } else { (old / 4) * 3 + sample / 4 };
        self.picos_per_element.store(new, Ordering::Relaxed);
    }

    /// Whether a request of `elements` input elements, counted in by [`Pace::enter`], may run
    /// inline, given `queued` jobs waiting.
    pub fn inline_ok(&self, elements: usize, queued: usize) -> bool {
        if queued > 0
            || self.in_flight.load(Ordering::Relaxed) > 1
            || self.calm.load(Ordering::Relaxed) < CALM_STREAK
        {
            return false;
        }
        let per_element = self.picos_per_element.load(Ordering::Relaxed);
        (per_element as u128) * (elements.max(1) as u128) <= BUDGET.as_nanos() * 1000
    }
}

/// A request counted in by [`Pace::enter`]; counted out when dropped.
pub(super) struct InFlight<'a>(&'a Pace);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The elements of a request's inputs, the unit of [`Pace`]'s cost.
pub(super) fn elements(inputs: &[edgeserve_accel::Tensor]) -> usize {
    inputs.iter().map(|t| t.data().len()).sum()
}

/// Times `f`, for [`Pace::lone`].
pub(super) fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let started = Instant::now();
    let r = f();
    (r, started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_needs_a_calm_deployment_and_a_measured_short_run() {
        let pace = Pace::new();
        let calm = |pace: &Pace| {
            for _ in 0..CALM_STREAK {
                drop(pace.enter());
            }
        };
        calm(&pace);
        let me = pace.enter();
        assert!(!pace.inline_ok(1, 0), "nothing measured yet: the worker runs it");
        pace.ran(1, 1, Duration::from_micros(20));
        assert!(pace.inline_ok(1, 0));
        assert!(pace.inline_ok(5, 0), "5 elements at 20 µs each is within the budget");
        assert!(!pace.inline_ok(6, 0), "6 elements at 20 µs each is over it");
        assert!(!pace.inline_ok(1, 1), "a queued job goes first");
        let other = pace.enter();
        assert!(!pace.inline_ok(1, 0), "another request is waiting for its answer");
        drop((other, me));
        let me = pace.enter();
        assert!(!pace.inline_ok(1, 0), "requests overlapped a moment ago: not calm yet");
        drop(me);
        calm(&pace);
        let me = pace.enter();
        assert!(pace.inline_ok(1, 0), "calm again after a streak of lone requests");
        pace.ran(1, 1, Duration::from_millis(10));
        assert!(!pace.inline_ok(1, 0), "a slow lone run moves the cost over the budget");
        drop(me);
    }
}
