//! Where scoring requests wait and run: a bounded queue per deployment, drained by one worker
//! thread per model instance, off the async runtime.
//!
//! Workers take one request at a time today; dynamic batching (`max_batch_size`,
//! `batch_window_us`) belongs in `worker.rs`, where a worker can gather queued jobs.

mod queue;
mod worker;

pub use queue::{Job, QueueFull, Runner};
