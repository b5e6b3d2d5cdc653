//! The queue and the batching policy against a fake model that echoes its input, records the
//! rows of every run and can be held until the test releases it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeserve_accel::{AccelError, DType, LoadedModel, Signature, Tensor, TensorData, TensorSpec};
use tokio::sync::oneshot;

use super::{BatchPolicy, QueueFull, Reply, Runner};

/// Echoes `x` as `y`; fails when an element is negative, panics when one is NaN.
struct Echo {
    sig: Signature,
    /// Each run takes one permit first, when held.
    permits: Option<crossbeam_channel::Receiver<()>>,
    /// The elements of every run, in order.
    runs: Arc<Mutex<Vec<Vec<f32>>>>,
    /// The thread of every run, in order.
    threads: Arc<Mutex<Vec<std::thread::ThreadId>>>,
}

impl LoadedModel for Echo {
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
        if let Some(permits) = &self.permits {
            permits.recv_timeout(Duration::from_secs(10)).expect("the test released no run");
        }
        let TensorData::F32(v) = inputs[0].data() else { panic!("f32 only") };
        self.runs.lock().unwrap().push(v.clone());
        self.threads.lock().unwrap().push(std::thread::current().id());
        if v.iter().any(|x| x.is_nan()) {
            panic!("backend bug");
        }
        if v.iter().any(|x| *x < 0.0) {
            return Err(AccelError::InvalidInput("negative".into()));
        }
        Ok(inputs)
    }
    fn host_only(&self) -> bool {
        true
    }
}

struct Fixture {
    runner: Runner,
    release: crossbeam_channel::Sender<()>,
    runs: Arc<Mutex<Vec<Vec<f32>>>>,
    threads: Arc<Mutex<Vec<std::thread::ThreadId>>>,
}

fn fixture(max_queue: usize, policy: BatchPolicy, held: bool) -> Fixture {
    let spec = |n: &str| TensorSpec { name: n.into(), dtype: DType::F32, shape: vec![-1, -1] };
    let sig = Signature {
        inputs: vec![spec("x")],
        outputs: vec![spec("y")],
        zipmaps: Default::default(),
    };
    let (release, permits) = crossbeam_channel::unbounded();
    let runs = Arc::new(Mutex::new(Vec::new()));
    let threads = Arc::new(Mutex::new(Vec::new()));
    let permits = held.then_some(permits);
    let model = Echo { sig, permits, runs: runs.clone(), threads: threads.clone() };
    let runner = Runner::start("t", vec![Box::new(model)], max_queue, policy).unwrap();
    Fixture { runner, release, runs, threads }
}

#[test]
fn a_worker_that_cannot_start_fails_the_runner() {
    let f = fixture(4, BatchPolicy::OFF, false);
    drop(f.runner);
    let spec = TensorSpec { name: "x".into(), dtype: DType::F32, shape: vec![-1, -1] };
    let sig =
        Signature { inputs: vec![spec.clone()], outputs: vec![spec], zipmaps: Default::default() };
    let model = Echo { sig, permits: None, runs: Default::default(), threads: Default::default() };
    // A stack no machine can map: the thread cannot be created.
    let huge = || std::thread::Builder::new().stack_size(1 << 60);
    let err = Runner::start_with("t", vec![Box::new(model)], 4, BatchPolicy::OFF, huge).err();
    assert!(err.is_some(), "the runner must report the worker that did not start");
}

/// `rows` rows of `width` elements, each `value`.
fn rows(rows: usize, width: usize, value: f32) -> Vec<Tensor> {
    vec![Tensor::new(vec![rows, width], TensorData::F32(vec![value; rows * width])).unwrap()]
}

fn batching(max_rows: usize) -> BatchPolicy {
    BatchPolicy::new(max_rows, Duration::from_millis(200))
}

async fn answer(rx: oneshot::Receiver<Reply>) -> Reply {
    tokio::time::timeout(Duration::from_secs(10), rx).await.expect("no answer").expect("dropped")
}

/// Waits until the worker has taken everything off the queue (it is then held in a run).
async fn taken(runner: &Runner) {
    while runner.depth() > 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test]
async fn full_queue_is_refused_at_once_and_drains() {
    let f = fixture(1, BatchPolicy::OFF, true);
    let first = f.runner.submit(rows(1, 1, 1.0)).unwrap();
    taken(&f.runner).await;
    let second = f.runner.submit(rows(1, 1, 2.0)).unwrap();
    assert_eq!(f.runner.submit(rows(1, 1, 3.0)).err(), Some(QueueFull));
    f.release.send(()).unwrap();
    f.release.send(()).unwrap();
    assert!(answer(first).await.is_ok());
    assert!(answer(second).await.is_ok());
}

#[tokio::test]
async fn a_panicking_backend_becomes_an_error_and_the_worker_survives() {
    let f = fixture(4, BatchPolicy::OFF, false);
    let err = answer(f.runner.submit(rows(1, 1, f32::NAN)).unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("panicked"), "{err}");
    assert!(answer(f.runner.submit(rows(1, 1, 1.0)).unwrap()).await.is_ok());
}

#[tokio::test]
async fn queued_requests_run_as_one_batch_and_each_gets_its_own_rows() {
    let f = fixture(16, batching(8), true);
    let first = f.runner.submit(rows(1, 2, 0.0)).unwrap();
    taken(&f.runner).await;
    let sizes = [1usize, 2, 3, 2];
    let waiting: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| f.runner.submit(rows(n, 2, i as f32 + 1.0)).unwrap())
        .collect();
    f.release.send(()).unwrap();
    f.release.send(()).unwrap();
    assert_eq!(answer(first).await.unwrap(), rows(1, 2, 0.0));
    for (i, (rx, &n)) in waiting.into_iter().zip(&sizes).enumerate() {
        assert_eq!(answer(rx).await.unwrap(), rows(n, 2, i as f32 + 1.0));
    }
    let runs: Vec<usize> = f.runs.lock().unwrap().iter().map(|v| v.len() / 2).collect();
    assert_eq!(runs, [8, 8], "the first job alone (padded to 8 rows), then the four others");
    let second = f.runs.lock().unwrap()[1].clone();
    assert_eq!(second.iter().filter(|x| **x == 0.0).count(), 0, "no padding in a full batch");
}

#[tokio::test]
async fn batches_stay_within_max_rows_and_dims_that_differ_run_apart() {
    let f = fixture(16, BatchPolicy::new(8, Duration::ZERO), true);
    let first = f.runner.submit(rows(1, 2, 0.0)).unwrap();
    taken(&f.runner).await;
    let jobs = [(5, 2), (5, 2), (1, 3), (2, 3), (1, 2)];
    let waiting: Vec<_> =
        jobs.iter().map(|&(n, w)| f.runner.submit(rows(n, w, 1.0)).unwrap()).collect();
    for _ in 0..8 {
        f.release.send(()).unwrap();
    }
    assert!(answer(first).await.is_ok());
    for (rx, &(n, w)) in waiting.into_iter().zip(&jobs) {
        assert_eq!(answer(rx).await.unwrap(), rows(n, w, 1.0));
    }
    let runs: Vec<usize> = f.runs.lock().unwrap().iter().map(Vec::len).collect();
    // Runs (each padded to 8 rows): [1x2], [5x2], [5x2] (5 + 5 > 8), [1x3 + 2x3], [1x2]
    // (the width differs from the run before).
    assert_eq!(runs, [16, 16, 16, 24, 16]);
    let real: Vec<usize> =
        f.runs.lock().unwrap().iter().map(|v| v.iter().filter(|x| **x != 0.0).count()).collect();
    assert_eq!(real, [0, 10, 10, 9, 2]);
}

#[tokio::test]
async fn a_request_whose_client_has_gone_is_not_run() {
    let f = fixture(16, batching(8), true);
    let first = f.runner.submit(rows(1, 1, 0.0)).unwrap();
    taken(&f.runner).await;
    drop(f.runner.submit(rows(1, 1, 7.0)).unwrap());
    let kept = f.runner.submit(rows(1, 1, 2.0)).unwrap();
    f.release.send(()).unwrap();
    f.release.send(()).unwrap();
    assert!(answer(first).await.is_ok());
    assert_eq!(answer(kept).await.unwrap(), rows(1, 1, 2.0));
    let runs = f.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().flatten().all(|x| *x != 7.0), "the abandoned request (7) ran: {runs:?}");
}

#[tokio::test]
async fn a_failing_request_does_not_fail_its_batch_mates() {
    let f = fixture(16, batching(8), true);
    let first = f.runner.submit(rows(1, 1, 0.0)).unwrap();
    taken(&f.runner).await;
    let good = f.runner.submit(rows(2, 1, 1.0)).unwrap();
    let bad = f.runner.submit(rows(1, 1, -1.0)).unwrap();
    let panics = f.runner.submit(rows(1, 1, f32::NAN)).unwrap();
    let also_good = f.runner.submit(rows(1, 1, 3.0)).unwrap();
    for _ in 0..6 {
        f.release.send(()).unwrap();
    }
    assert!(answer(first).await.is_ok());
    assert_eq!(answer(good).await.unwrap(), rows(2, 1, 1.0));
    assert!(answer(bad).await.unwrap_err().to_string().contains("negative"));
    assert!(answer(panics).await.unwrap_err().to_string().contains("panicked"));
    assert_eq!(answer(also_good).await.unwrap(), rows(1, 1, 3.0));
}

#[tokio::test]
async fn an_idle_worker_does_not_wait_for_the_window() {
    let f = fixture(16, BatchPolicy::new(8, Duration::from_secs(30)), false);
    for i in 0..3 {
        let rx = f.runner.submit(rows(1, 1, i as f32)).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(5), rx).await;
        assert!(got.is_ok(), "request {i} waited for the 30 s window");
    }
}

#[test]
fn runs_are_padded_to_the_smallest_proven_size() {
    let policy = BatchPolicy { buckets: 0b0110, ..BatchPolicy::new(32, Duration::ZERO) };
    let sizes: Vec<usize> = [1, 2, 3, 4, 5, 31, 32, 40].map(|r| policy.run_rows(r)).to_vec();
    assert_eq!(sizes, [2, 2, 4, 4, 32, 32, 32, 40]);
    // Sizes 16, 20, 24 and 28 (bits 4 to 7) proven too: a 21-row batch computes 24 rows.
    let policy = BatchPolicy { buckets: 0b1111_0110, ..BatchPolicy::new(32, Duration::ZERO) };
    let sizes: Vec<usize> = [5, 16, 17, 21, 24, 25, 29].map(|r| policy.run_rows(r)).to_vec();
    assert_eq!(sizes, [16, 16, 20, 24, 24, 28, 32]);
    assert_eq!(BatchPolicy::new(8, Duration::ZERO).run_rows(1), 8, "no proven size: max rows");
    assert_eq!(BatchPolicy::OFF.run_rows(3), 3, "batching off: never padded");
}

#[tokio::test]
async fn a_lone_request_runs_at_the_smallest_proven_size() {
    let policy = BatchPolicy { buckets: 0b0110, ..BatchPolicy::new(8, Duration::ZERO) };
    let f = fixture(16, policy, false);
    for (n, run) in [(1usize, 2usize), (3, 4), (5, 8)] {
        assert_eq!(
            answer(f.runner.submit(rows(n, 1, 1.0)).unwrap()).await.unwrap(),
            rows(n, 1, 1.0)
        );
        let last = f.runs.lock().unwrap().last().unwrap().len();
        assert_eq!(last, run, "a request of {n} rows");
    }
}

/// Echoes `x` as `y`, but rounds differently (adds 2^-20) in runs of fewer than `.1` rows, the
/// way a backend that picks another kernel for small sizes would.
struct RoundsDifferentlyBelow(Signature, usize);

impl LoadedModel for RoundsDifferentlyBelow {
    fn signature(&self) -> &Signature {
        &self.0
    }
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
        let rows = inputs[0].rows();
        let TensorData::F32(v) = inputs[0].data() else { panic!("f32 only") };
        let shift = if rows < self.1 { 1.0 / (1 << 20) as f32 } else { 0.0 };
        let out = v.iter().map(|x| x + shift).collect();
        Ok(vec![Tensor::new(inputs[0].shape().to_vec(), TensorData::F32(out))?])
    }
}

#[test]
fn the_probe_keeps_only_sizes_that_give_the_same_bits() {
    let spec = |n: &str| TensorSpec { name: n.into(), dtype: DType::F32, shape: vec![-1, 3] };
    let sig = Signature {
        inputs: vec![spec("x")],
        outputs: vec![spec("y")],
        zipmaps: Default::default(),
    };
    assert_eq!(super::run_sizes(16), [1, 2, 4, 8, 10, 12, 14]);
    assert_eq!(super::run_sizes(32), [1, 2, 4, 8, 16, 20, 24, 28]);
    assert_eq!(super::run_sizes(12), [1, 2, 4, 8, 9, 10, 11]);
    assert_eq!(super::run_sizes(3), [1, 2]);
    assert_eq!(super::run_sizes(1), [] as [usize; 0]);
    let mut odd = RoundsDifferentlyBelow(sig.clone(), 4);
    assert_eq!(super::exact_buckets(&mut odd, 16), 0b111_1100, "4, 8, 10, 12 and 14, not 1 or 2");
    let mut odd = RoundsDifferentlyBelow(sig.clone(), 11);
    assert_eq!(super::exact_buckets(&mut odd, 16), 0b110_0000, "12 and 14 only");
    let mut exact = RoundsDifferentlyBelow(sig, 0);
    assert_eq!(super::exact_buckets(&mut exact, 16), 0b111_1111, "every size below 16");
    assert_eq!(super::exact_buckets(&mut exact, 1), 0, "nothing below one row");
}

#[tokio::test]
async fn a_batch_holding_every_client_runs_without_waiting_for_the_window() {
    let f = fixture(16, BatchPolicy::new(8, Duration::from_secs(30)), true);
    let first = f.runner.submit(rows(1, 1, 0.0)).unwrap();
    taken(&f.runner).await;
    // Two clients queue while the first runs; the next batch takes both at once and, holding
    // more than the last batch did, does not wait 30 s for a third.
    let queued: Vec<_> = (1..3).map(|i| f.runner.submit(rows(1, 1, i as f32)).unwrap()).collect();
    f.release.send(()).unwrap();
    f.release.send(()).unwrap();
    assert!(answer(first).await.is_ok());
    for rx in queued {
        let got = tokio::time::timeout(Duration::from_secs(5), rx).await;
        assert!(got.is_ok(), "the batch waited for the window");
    }
    let runs: Vec<usize> = f.runs.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(runs, [8, 8], "the first alone, then the two together (each padded to 8)");
}

/// Echoes `x` as `y` and records the thread of every run; `host_only` as given.
struct Where {
    sig: Signature,
    host_only: bool,
    threads: Arc<Mutex<Vec<std::thread::ThreadId>>>,
}

impl LoadedModel for Where {
    fn signature(&self) -> &Signature {
        &self.sig
    }
    fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
        self.threads.lock().unwrap().push(std::thread::current().id());
        Ok(inputs)
    }
    fn host_only(&self) -> bool {
        self.host_only
    }
}

/// The threads of `count` requests sent one at a time through [`Runner::run`].
async fn threads_of_lone_requests(
    host_only: bool,
    count: usize,
) -> (Vec<std::thread::ThreadId>, Runner, Arc<Mutex<Vec<std::thread::ThreadId>>>) {
    let spec = |n: &str| TensorSpec { name: n.into(), dtype: DType::F32, shape: vec![-1, -1] };
    let sig = Signature {
        inputs: vec![spec("x")],
        outputs: vec![spec("y")],
        zipmaps: Default::default(),
    };
    let threads = Arc::new(Mutex::new(Vec::new()));
    let model = Where { sig, host_only, threads: threads.clone() };
    let runner = Runner::start("t", vec![Box::new(model)], 4, batching(4)).unwrap();
    for i in 0..count {
        let input = rows(1, 3, i as f32);
        let got = runner.run(input.clone(), Duration::from_secs(10)).await.unwrap().unwrap();
        assert_eq!(got, input, "request {i}: the same answer inline or queued");
    }
    let seen = threads.lock().unwrap().clone();
    (seen, runner, threads)
}

#[tokio::test(flavor = "current_thread")]
async fn lone_short_requests_to_a_calm_deployment_run_on_the_callers_thread() {
    let here = std::thread::current().id();
    let (threads, runner, seen) = threads_of_lone_requests(true, 200).await;
    assert_eq!(threads.len(), 200);
    let streak = super::inline::CALM_STREAK;
    // Request i (from 0) is the (i+1)th in a row to find the deployment idle.
    assert!(
        threads[..streak - 1].iter().all(|t| *t != here),
        "until {streak} requests in a row have found the deployment idle, the worker runs them"
    );
    // Whether a given run is inline depends on measured run times (a run preempted on a busy
    // machine moves the cost over the budget for a while): some must be.
    let inline = threads.iter().filter(|t| **t == here).count();
    assert!(inline > 0, "no lone request ran inline");
    // One row, but a long dynamic dimension (a sequence, say): predicted by its elements (a
    // million times those measured), it runs on the worker.
    let long = rows(1, 3_000_000, 1.0);
    assert!(runner.run(long, Duration::from_secs(10)).await.unwrap().is_ok());
    assert_ne!(*seen.lock().unwrap().last().unwrap(), here, "a long request ran inline");
}

#[tokio::test(flavor = "current_thread")]
async fn a_backend_that_waits_on_a_device_always_runs_on_its_worker() {
    let here = std::thread::current().id();
    let (threads, _runner, _) = threads_of_lone_requests(false, 40).await;
    assert!(threads.iter().all(|t| *t != here), "never on the caller's thread");
}

/// Sends `count` lone requests one at a time through [`Runner::run`] (releasing a held model
/// once for each); returns how many ran on this thread.
async fn lone_requests(f: &Fixture, count: usize) -> usize {
    let here = std::thread::current().id();
    let before = f.threads.lock().unwrap().len();
    for i in 0..count {
        f.release.send(()).unwrap();
        let got = f.runner.run(rows(1, 1, i as f32), Duration::from_secs(10)).await;
        assert_eq!(got.unwrap().unwrap(), rows(1, 1, i as f32));
    }
    f.threads.lock().unwrap()[before..].iter().filter(|t| **t == here).count()
}

#[tokio::test(flavor = "current_thread")]
async fn overlapping_requests_queue_and_batch_after_a_calm_spell() {
    let f = fixture(16, batching(8), true);
    assert!(lone_requests(&f, 30).await > 0, "the calm spell ran requests inline");
    let here = std::thread::current().id();
    let inline_before = f.threads.lock().unwrap().iter().filter(|t| **t == here).count();
    // The worker is held in a run: the requests below overlap it and each other.
    let first = f.runner.submit(rows(1, 1, 0.0)).unwrap();
    taken(&f.runner).await;
    let (runner, t) = (&f.runner, Duration::from_secs(10));
    let release = async {
        while runner.depth() < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        f.release.send(()).unwrap();
        f.release.send(()).unwrap();
    };
    let (a, b, c, ()) = tokio::join!(
        runner.run(rows(1, 1, 1.0), t),
        runner.run(rows(1, 1, 2.0), t),
        runner.run(rows(1, 1, 3.0), t),
        release
    );
    assert!(answer(first).await.is_ok());
    for (i, a) in [a, b, c].into_iter().enumerate() {
        assert_eq!(a.unwrap().unwrap(), rows(1, 1, i as f32 + 1.0));
    }
    let runs: Vec<usize> = f.runs.lock().unwrap().iter().rev().take(2).map(Vec::len).collect();
    assert_eq!(runs, [8, 8], "the first alone, then the three together");
    let inline_after = f.threads.lock().unwrap().iter().filter(|t| **t == here).count();
    assert_eq!(inline_after, inline_before, "no overlapping request ran inline");
}

#[tokio::test(flavor = "current_thread")]
async fn requests_given_up_or_refused_leave_the_deployment_calm_again() {
    let f = fixture(2, batching(8), true);
    assert!(lone_requests(&f, 30).await > 0, "the calm spell ran requests inline");
    let held = f.runner.submit(rows(1, 1, 0.0)).unwrap();
    taken(&f.runner).await;
    let (runner, long) = (&f.runner, Duration::from_secs(10));
    let dropped =
        tokio::time::timeout(Duration::from_millis(20), runner.run(rows(1, 1, 1.0), long));
    assert!(dropped.await.is_err(), "queued behind the held run, then given up by its caller");
    let timed_out = runner.run(rows(1, 1, 2.0), Duration::from_millis(20)).await;
    assert_eq!(timed_out.err(), Some(super::RunError::Timeout));
    let refused = runner.run(rows(1, 1, 3.0), long).await;
    assert_eq!(refused.err(), Some(super::RunError::QueueFull), "both given-up jobs still queued");
    f.release.send(()).unwrap();
    assert!(answer(held).await.is_ok());
    taken(&f.runner).await; // the worker skips the two given-up jobs
                            // Had any of the three stayed counted in flight, no request would run inline again.
    assert!(lone_requests(&f, 30).await > 0, "inline runs resumed");
}
