//! Per-batch-size device state (buffers, bound kernels or runs) kept by model instances: made
//! on first use of a batch size, reused after, and the least recently used size dropped when
//! more than [`BOUND_BATCH_SIZES`] are held. Backends that bind per batch size run power-of-two
//! buckets ([`padded_run`]): rows are padded with zeros up to the bucket and the outputs sliced
//! back, so a deployment binds at most a handful of sizes however its batches vary.

/// Batch sizes an instance keeps bound at once.
pub(crate) const BOUND_BATCH_SIZES: usize = 8;

/// The bound batch size that runs `rows` rows: the next power of two (at least 1).
pub(crate) fn bucket(rows: usize) -> usize {
    rows.max(1).checked_next_power_of_two().unwrap_or(rows)
}

/// Whether a model's rows may be padded: every input and output has a dynamic batch (dim 0).
pub(crate) fn pads(sig: &crate::Signature) -> bool {
    let dynamic = |s: &crate::TensorSpec| s.shape.first() == Some(&crate::DYNAMIC);
    sig.inputs.iter().all(dynamic) && sig.outputs.iter().all(dynamic)
}

/// Runs `inputs` (checked against `sig`) through `run` at their [`bucket`]: rows are padded with
/// zeros up to it and every output sliced back to the real rows. Models whose signature does not
/// [`pads`] run at their exact size. Errors: `sig`'s input check, `run`'s own, and
/// [`AccelError::Internal`] when an output of a padded run lacks the padded rows.
pub(crate) fn padded_run(
    sig: &crate::Signature,
    inputs: Vec<crate::Tensor>,
    run: impl FnOnce(usize, Vec<crate::Tensor>) -> Result<Vec<crate::Tensor>, crate::AccelError>,
) -> Result<Vec<crate::Tensor>, crate::AccelError> {
    let rows = sig.check_inputs(&inputs)?;
    let size = bucket(rows);
    if size == rows || !pads(sig) {
        return run(rows, inputs);
    }
    let padded = inputs.into_iter().map(|t| t.pad_rows(size)).collect::<Result<Vec<_>, _>>()?;
    let outputs = run(size, padded)?;
    outputs
        .into_iter()
        .zip(&sig.outputs)
        .map(|(t, spec)| {
            if t.rows() != size {
                return Err(crate::AccelError::Internal(format!(
                    "output {} has {} rows at padded batch size {size}",
                    spec.name,
                    t.rows()
                )));
            }
            t.slice_rows(0..rows)
        })
        .collect()
}

/// Bound state per batch size, most recently used last.
pub(crate) struct BoundBatches<T> {
    entries: Vec<(usize, T)>,
}

impl<T> Default for BoundBatches<T> {
    fn default() -> Self {
        BoundBatches { entries: Vec::new() }
    }
}

impl<T> BoundBatches<T> {
    /// The state for `batch`, made by `bind` if it is not held yet.
    pub fn get_or_bind<E>(
        &mut self,
        batch: usize,
        bind: impl FnOnce(usize) -> Result<T, E>,
    ) -> Result<&mut T, E> {
        if let Some(at) = self.entries.iter().position(|(b, _)| *b == batch) {
            let entry = self.entries.remove(at);
            self.entries.push(entry);
        } else {
            let bound = bind(batch)?;
            if self.entries.len() >= BOUND_BATCH_SIZES {
                self.entries.remove(0);
            }
            self.entries.push((batch, bound));
        }
        let last = self.entries.len() - 1;
        Ok(&mut self.entries[last].1)
    }

    /// The batch sizes held, least recently used first.
    /// The entry bound for `batch`, if any, without marking it used.
    pub fn peek(&self, batch: usize) -> Option<&T> {
        self.entries.iter().find(|(b, _)| *b == batch).map(|(_, t)| t)
    }

    pub fn sizes(&self) -> Vec<usize> {
        self.entries.iter().map(|(b, _)| *b).collect()
    }

    /// The least recently used entry, if any.
    pub fn oldest(&self) -> Option<&T> {
        self.entries.first().map(|(_, t)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DType, Signature, Tensor, TensorData, TensorSpec};

    #[test]
    fn buckets_are_powers_of_two() {
        let got: Vec<usize> = [0, 1, 2, 3, 4, 5, 8, 9, 33].iter().map(|&r| bucket(r)).collect();
        assert_eq!(got, [1, 1, 2, 4, 4, 8, 8, 16, 64]);
    }

    #[test]
    fn padded_runs_see_the_bucket_and_return_the_real_rows() {
        let spec = |n: &str| TensorSpec { name: n.into(), dtype: DType::F32, shape: vec![-1, 2] };
        let sig = Signature {
            inputs: vec![spec("x")],
            outputs: vec![spec("y")],
            zipmaps: Default::default(),
        };
        let x = Tensor::new(vec![3, 2], TensorData::F32(vec![1.0; 6])).unwrap();
        let out = padded_run(&sig, vec![x.clone()], |size, inputs| {
            assert_eq!((size, inputs[0].shape()), (4, &[4usize, 2][..]));
            Ok(inputs)
        })
        .unwrap();
        assert_eq!(out, vec![x]);
    }

    #[test]
    fn reuses_and_drops_the_least_recently_used() {
        let mut made = Vec::new();
        let mut cache = BoundBatches::default();
        for batch in (1..=BOUND_BATCH_SIZES + 1).chain([2, 1]) {
            let got = cache
                .get_or_bind(batch, |b| {
                    made.push(b);
                    Ok::<_, ()>(b * 10)
                })
                .map(|v| *v);
            assert_eq!(got, Ok(batch * 10));
        }
        // 1..=9 made once each; 2 was still held; 1 had been dropped and is made again.
        let mut want: Vec<usize> = (1..=BOUND_BATCH_SIZES + 1).collect();
        want.push(1);
        assert_eq!(made, want);
    }
}
