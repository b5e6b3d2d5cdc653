//! Where scoring requests wait and run: a bounded queue per deployment, drained by one worker
//! thread per model instance, off the async runtime, with dynamic batching; a lone short
//! request to a calm deployment runs at once instead (below).
//!
//! # Batching policy
//!
//! A worker blocks for the next job, then gathers more into one batch (`gather.rs`):
//!
//! - It first takes whatever is queued now, while the rows (dim 0, summed over requests) stay
//!   within `max_batch_size`. A request larger than that runs alone.
//! - It waits for more, up to `batch_window_us` after it took the first job and only while rows
//!   are below `max_batch_size`, only when more requests are likely: the previous batch had
//!   more requests than this one holds yet. A worker whose batch already
//!   holds as many requests as the last one therefore never waits: at concurrency 1, or with a
//!   closed loop of N clients all in the batch, the window would be pure added latency, since
//!   nobody else can send until they are answered.
//! - Requests whose inputs cannot be stacked with the batch's first (another dtype, or another
//!   size of a dynamic non-batch dimension) end the gathering and start the next batch.
//! - Jobs whose client has gone (timeout, disconnect) are dropped, not run.
//! - `max_batch_size = 1` turns batching off. Otherwise every run has one of a few fixed sizes:
//!   `max_batch_size` rows, or a smaller size ([`run_sizes`]: powers of two, and quarter points
//!   above the largest of them) that the load probe proved gives every row the same bits
//!   (`probe.rs`, [`BatchPolicy::buckets`]). A batch (or a request alone) is
//!   padded with zero rows to the smallest such size that holds it and its outputs sliced back.
//!   Backends pick kernels by size (tract's matrix products), and their sums round differently,
//!   so a row's result would otherwise depend, in the last bits, on how many rows shared its
//!   run; at proven sizes each response is byte-identical to what it is alone. A request of more
//!   rows than `max_batch_size` runs alone at its own size. A model whose rows still depend on
//!   their mates at load gets no batching.
//!
//! The merged batch runs once and its outputs are split back by rows. If it fails (an error or
//! a panic), or its outputs cannot be split, each member is run again alone, so one bad request
//! never fails its batch mates; only the failing request gets the error. Other deployments have
//! their own queues and workers and are never affected.
//!
//! `edgeserve_batch_size` observes the rows of every run on the device, not of every request.
//!
//! # Inline runs
//!
//! When a deployment is calm (each of the last 16 requests found no other in flight), nothing is
//! queued or in flight now, and the run is predicted from measured lone runs to take at most
//! [`INLINE_BUDGET`] on a backend that only computes on the host, a request runs at once on the
//! thread that decoded it, the same call a worker would make, instead of two thread hand-offs
//! that cost more than the run (`inline.rs` has the conditions and why). Under concurrency the
//! streak breaks: requests queue and batch.

mod gather;
mod inline;
mod probe;
mod queue;
mod worker;

pub use inline::BUDGET as INLINE_BUDGET;
pub use probe::{exact_buckets, rows_independent};
pub use queue::{run_sizes, BatchPolicy, Job, QueueFull, Reply, RunError, Runner};

#[cfg(test)]
mod tests;
