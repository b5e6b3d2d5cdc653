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
//! - its predicted run time is within [`BUDGET`], about what parsing a request costs the
//!   runtime thread anyway (tokio's guidance for work between two awaits is 10–100 µs). The
//!   prediction is its [`cost_units`] (input elements, scaled up by the padding its run gets)
//!   times the measured time per unit of successful lone runs. Elements, not rows, so a one-row
//!   request with a long dynamic dimension, a sequence say, is predicted long; costs that grow
//!   faster than the input, such as attention over a sequence, are the predictor's blind spot;
//! - a model instance is free (its worker is not running a batch), and its next run is host
//!   computation only ([`LoadedModel::host_only`]: the CPU target with one plan for every batch
//!   size), never a wait on a device or driver, nor a plan built for a new batch size.
//!
//! The run is the same call a worker makes (`worker::run_once`: same padding, same panic
//! catching), so the response is byte-identical to the queued one.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use edgeserve_accel::LoadedModel;

use super::queue::BatchPolicy;

/// The longest a run may be predicted to take and still run on the caller's (runtime) thread.
pub const BUDGET: Duration = Duration::from_micros(100);

/// How many requests in a row must have found the deployment idle before one runs inline.
pub const CALM_STREAK: usize = 16;

/// One model instance, shared by its worker thread and inline runs; whoever runs holds it.
pub(super) struct Slot {
    model: Mutex<Box<dyn LoadedModel>>,
}

impl Slot {
    pub fn new(model: Box<dyn LoadedModel>) -> Slot {
        Slot { model: Mutex::new(model) }
    }

    /// The model, waiting for an inline run to finish (predicted within [`BUDGET`]).
    pub fn lock(&self) -> MutexGuard<'_, Box<dyn LoadedModel>> {
        // Runs catch panics inside the lock (`run_once`), so a poisoned lock holds a sound model.
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The model if nobody is running it now and its next run may be made inline
    /// ([`LoadedModel::host_only`]).
    pub fn try_lock(&self) -> Option<MutexGuard<'_, Box<dyn LoadedModel>>> {
        let guard = match self.model.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        guard.host_only().then_some(guard)
    }
}

/// What a deployment's workers and inline runs learn about its load and run cost.
pub(super) struct Pace {
    /// Requests in [`super::Runner::run`] now (inline or waiting for an answer).
    in_flight: AtomicUsize,
    /// Requests in a row that found no other in flight when they came.
    calm: AtomicUsize,
    /// Measured wall time of a successful lone run per [`cost_units`] unit, in picoseconds (a
    /// moving average); `u64::MAX` until the first, so the first requests go to the workers.
    picos_per_unit: AtomicU64,
}

impl Pace {
    pub fn new() -> Pace {
        Pace {
            in_flight: AtomicUsize::new(0),
            calm: AtomicUsize::new(0),
            picos_per_unit: AtomicU64::new(u64::MAX),
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

    /// A worker's run of a batch of `jobs` requests, `units` [`cost_units`] in all, took
    /// `took`; `ok`: it succeeded. Only successful lone runs are measured: a request refused in
    /// a microsecond says nothing of what a valid one costs.
    pub fn ran(&self, jobs: usize, units: usize, took: Duration, ok: bool) {
        if jobs == 1 && ok {
            self.lone(units, took);
        }
    }

    /// A successful lone run of `units` [`cost_units`] took `took`: the cost per unit moves a
    /// quarter of the way to it.
    pub fn lone(&self, units: usize, took: Duration) {
        let picos = took.as_nanos().saturating_mul(1000) / units.max(1) as u128;
        let sample = u64::try_from(picos).unwrap_or(u64::MAX - 1).min(u64::MAX - 1);
        let old = self.picos_per_unit.load(Ordering::Relaxed);
        let new = if old == u64::MAX { sample } else { (old / 4) * 3 + sample / 4 };
        self.picos_per_unit.store(new, Ordering::Relaxed);
    }

    /// Whether a request of `units` [`cost_units`], counted in by [`Pace::enter`], may run
    /// inline, given `queued` jobs waiting.
    pub fn inline_ok(&self, units: usize, queued: usize) -> bool {
        if queued > 0
            || self.in_flight.load(Ordering::Relaxed) > 1
            || self.calm.load(Ordering::Relaxed) < CALM_STREAK
        {
            return false;
        }
        let per_unit = self.picos_per_unit.load(Ordering::Relaxed);
        (per_unit as u128) * (units.max(1) as u128) <= BUDGET.as_nanos() * 1000
    }
}

/// A request counted in by [`Pace::enter`]; counted out when dropped.
pub(super) struct InFlight<'a>(&'a Pace);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a run of `elements` input elements in `rows` rows costs, in [`Pace`]'s unit: the
/// elements scaled by the padding `policy` gives the run (a lone row padded to 32 rows costs 32
/// rows' worth).
pub(super) fn cost_units(elements: usize, rows: usize, policy: &BatchPolicy) -> usize {
    let rows = rows.max(1);
    elements.saturating_mul(policy.run_rows(rows).max(rows)) / rows
}

/// The elements of a request's inputs.
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
        pace.ran(1, 1, Duration::from_nanos(500), false);
        assert!(!pace.inline_ok(1, 0), "a failed run is not a measurement");
        pace.ran(1, 1, Duration::from_micros(20), true);
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
        pace.ran(1, 1, Duration::from_millis(10), true);
        assert!(!pace.inline_ok(1, 0), "a slow lone run moves the cost over the budget");
        drop(me);
    }

    #[test]
    fn padding_counts_in_the_cost() {
        let unproven = BatchPolicy::new(32, Duration::ZERO);
        assert_eq!(cost_units(10, 1, &unproven), 320, "a lone row computes 32");
        assert_eq!(cost_units(310, 31, &unproven), 320);
        assert_eq!(cost_units(400, 40, &unproven), 400, "larger than max: its own size");
        assert_eq!(cost_units(10, 1, &BatchPolicy::OFF), 10);
        let proven = BatchPolicy { buckets: 0b1, ..unproven };
        assert_eq!(cost_units(10, 1, &proven), 10, "size 1 proven");
    }
}
