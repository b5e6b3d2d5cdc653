//! Worker threads: each owns one model instance and runs the jobs it takes off the queue.

use std::panic::{catch_unwind, AssertUnwindSafe};

use edgeserve_accel::{AccelError, LoadedModel};

use super::Job;

/// Starts a named worker thread that runs jobs until the queue's sender is gone and it is empty.
pub(super) fn spawn(
    name: String,
    mut model: Box<dyn LoadedModel>,
    rx: crossbeam_channel::Receiver<Job>,
) {
    let builder = std::thread::Builder::new().name(format!("es-{name}"));
    let spawned = builder.spawn(move || {
        while let Ok(job) = rx.recv() {
            if job.reply.is_closed() {
                // The client gave up (timeout or disconnect): do not spend the device on it.
                continue;
            }
            let result =
                catch_unwind(AssertUnwindSafe(|| model.run(job.inputs))).unwrap_or_else(|_| {
                    tracing::error!(worker = %name, "backend panicked while running a batch");
                    Err(AccelError::Internal("backend panicked while running a batch".into()))
                });
            let _ = job.reply.send(result);
        }
        tracing::debug!(worker = %name, "worker stopped");
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start a worker thread");
    }
}
