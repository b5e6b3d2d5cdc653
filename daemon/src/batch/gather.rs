//! A batch being gathered: which jobs may join it, and stacking their inputs into one run and
//! splitting the run's outputs back per job.

use edgeserve_accel::{AccelError, Tensor};

use super::queue::Job;

/// Rows of a job: the common size of dim 0 over its inputs, or `None` when its inputs disagree
/// or one is a scalar (such a job runs alone and gets the model's own error).
pub(super) fn rows_of(job: &Job) -> Option<usize> {
    let mut rows = None;
    for t in &job.inputs {
        if t.shape().is_empty() {
            return None;
        }
        match rows {
            None => rows = Some(t.rows()),
            Some(r) if r != t.rows() => return None,
            Some(_) => {}
        }
    }
    rows
}

/// Jobs that will run as one batch.
pub(super) struct Batch {
    pub jobs: Vec<Job>,
    /// Rows of each job, in order.
    pub rows: Vec<usize>,
    /// Whether more jobs may join (the first job's rows are known).
    open: bool,
}

impl Batch {
    /// A batch starting with `first`.
    pub fn new(first: Job) -> Batch {
        let rows = rows_of(&first);
        Batch { rows: vec![rows.unwrap_or(0)], jobs: vec![first], open: rows.is_some() }
    }

    /// Total rows.
    pub fn total(&self) -> usize {
        self.rows.iter().sum()
    }

    /// Whether another job may still join a batch bounded by `max_rows`.
    pub fn open(&self, max_rows: usize) -> bool {
        self.open && self.total() < max_rows
    }

    /// Adds `job` if its inputs stack under the first job's and the rows stay within
    /// `max_rows`; otherwise hands it back (it starts the next batch).
    pub fn try_push(&mut self, job: Job, max_rows: usize) -> Result<(), Job> {
        let Some(rows) = rows_of(&job) else { return Err(job) };
        let first = &self.jobs[0].inputs;
        let stacks = first.len() == job.inputs.len()
            && first.iter().zip(&job.inputs).all(|(a, b)| a.rows_compatible(b));
        if !self.open || !stacks || self.total() + rows > max_rows {
            return Err(job);
        }
        self.rows.push(rows);
        self.jobs.push(job);
        Ok(())
    }

    /// Drops jobs whose client has gone since they joined.
    pub fn drop_abandoned(&mut self) {
        let mut i = 0;
        while i < self.jobs.len() {
            if self.jobs[i].reply.is_closed() {
                self.jobs.remove(i);
                self.rows.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// The jobs' inputs stacked along dim 0, one tensor per model input (the inputs of a
    /// single job are moved, not copied).
    pub fn stacked_inputs(&mut self) -> Result<Vec<Tensor>, AccelError> {
        if self.jobs.len() == 1 {
            return Ok(std::mem::take(&mut self.jobs[0].inputs));
        }
        (0..self.jobs[0].inputs.len())
            .map(|i| {
                let parts: Vec<&Tensor> = self.jobs.iter().map(|j| &j.inputs[i]).collect();
                Tensor::concat_rows(&parts)
            })
            .collect()
    }
}

/// Splits a batch run's outputs back per job: `outputs[o]` into `rows` along dim 0; the result
/// is one output list per job. Errors when an output does not have the batch's rows.
pub(super) fn split_outputs(
    outputs: Vec<Tensor>,
    rows: &[usize],
) -> Result<Vec<Vec<Tensor>>, AccelError> {
    if rows.len() == 1 {
        return Ok(vec![outputs]);
    }
    let mut per_job: Vec<Vec<Tensor>> = vec![Vec::with_capacity(outputs.len()); rows.len()];
    for output in outputs {
        for (job, part) in per_job.iter_mut().zip(output.split_rows(rows)?) {
            job.push(part);
        }
    }
    Ok(per_job)
}
