//! The bounded queue in front of a deployment's model instances.

use edgeserve_accel::{AccelError, LoadedModel, Tensor};
use tokio::sync::oneshot;

use super::worker;

/// One request waiting to run.
pub struct Job {
    pub inputs: Vec<Tensor>,
    pub reply: oneshot::Sender<Result<Vec<Tensor>, AccelError>>,
}

/// The queue was full: the caller answers 503 at once rather than waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// A deployment's queue and the worker threads draining it. Dropping it stops the workers once
/// they have finished every job already queued.
pub struct Runner {
    tx: crossbeam_channel::Sender<Job>,
    capacity: usize,
}

impl Runner {
    /// Starts one worker thread per instance behind a queue of `max_queue` waiting jobs.
    pub fn start(label: &str, instances: Vec<Box<dyn LoadedModel>>, max_queue: usize) -> Runner {
        let capacity = max_queue.max(1);
        let (tx, rx) = crossbeam_channel::bounded::<Job>(capacity);
        for (i, model) in instances.into_iter().enumerate() {
            worker::spawn(format!("{label}#{i}"), model, rx.clone());
        }
        Runner { tx, capacity }
    }

    /// Queues a job without waiting; the receiver yields its result.
    pub fn submit(
        &self,
        inputs: Vec<Tensor>,
    ) -> Result<oneshot::Receiver<Result<Vec<Tensor>, AccelError>>, QueueFull> {
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(Job { inputs, reply }).map_err(|_| QueueFull)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use edgeserve_accel::{DType, Signature, TensorData, TensorSpec};
    use std::sync::{Arc, Barrier};

    /// A model that blocks until released, so tests can fill the queue.
    struct Gate {
        sig: Signature,
        gate: Arc<Barrier>,
        panic: bool,
    }

    impl LoadedModel for Gate {
        fn signature(&self) -> &Signature {
            &self.sig
        }
        fn run(&mut self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, AccelError> {
            self.gate.wait();
            if self.panic {
                panic!("backend bug");
            }
            Ok(inputs)
        }
    }

    fn gate(barrier: &Arc<Barrier>, panic: bool) -> Box<dyn LoadedModel> {
        let spec = TensorSpec { name: "x".into(), dtype: DType::F32, shape: vec![-1] };
        let sig = Signature {
            inputs: vec![spec.clone()],
            outputs: vec![spec],
            zipmaps: Default::default(),
        };
        Box::new(Gate { sig, gate: barrier.clone(), panic })
    }

    fn input() -> Vec<Tensor> {
        vec![Tensor::new(vec![1], TensorData::F32(vec![1.0])).unwrap()]
    }

    #[tokio::test]
    async fn full_queue_is_refused_at_once_and_drains() {
        let barrier = Arc::new(Barrier::new(2));
        let runner = Runner::start("t", vec![gate(&barrier, false)], 1);
        let first = runner.submit(input()).unwrap();
        // The worker holds `first` at the barrier; wait until it has taken it off the queue.
        while runner.depth() > 0 {
            tokio::task::yield_now().await;
        }
        let second = runner.submit(input()).unwrap();
        assert_eq!(runner.submit(input()).err(), Some(QueueFull));
        let b = barrier.clone();
        std::thread::spawn(move || {
            b.wait();
            b.wait();
        });
        assert!(first.await.unwrap().is_ok());
        assert!(second.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_panicking_backend_becomes_an_error() {
        let barrier = Arc::new(Barrier::new(1));
        let runner = Runner::start("t", vec![gate(&barrier, true)], 4);
        let err = runner.submit(input()).unwrap().await.unwrap().unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        // The worker survives and serves the next job too.
        assert!(runner.submit(input()).unwrap().await.unwrap().is_err());
    }
}
