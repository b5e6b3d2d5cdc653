//! The load-time check that a model may be batched: every input and output has a dynamic batch
//! (dim 0), and each of a few varied rows gives bit-identical outputs whichever rows share its
//! run. Batched runs are padded with zeros to a few fixed sizes, `max_batch_size` first (see
//! `worker.rs`), since some backends pick kernels by size (tract's matrix products), whose sums
//! round differently; the probe checks that, at that size, a row's position and its mates do
//! not matter either.
//! A model that fails it gets no dynamic batching. A model that passes has its smaller run
//! sizes (powers of two, and quarter points above the largest: `queue::run_sizes`) checked
//! against that size ([`exact_buckets`]): a small batch, or a request alone, runs padded to the
//! smallest size proven to give the same bits, not to `max_batch_size` (a lone row of a 32-row
//! MLP computes 1 row, not 32; a 21-row batch 24, not 32).

use edgeserve_accel::{LoadedModel, Signature, Tensor, TensorData, DYNAMIC};

/// Checks that `model`'s rows do not depend on their mates in runs of `rows` rows; the error
/// says why they may.
pub fn rows_independent(model: &mut dyn LoadedModel, rows: usize) -> Result<(), String> {
    let sig = model.signature().clone();
    let batched = |shape: &[i64]| shape.first() == Some(&DYNAMIC);
    if let Some(s) = sig.inputs.iter().chain(&sig.outputs).find(|s| !batched(&s.shape)) {
        return Err(format!("{} has no dynamic batch dimension", s.name));
    }
    let inputs = varied(&sig, rows).map_err(|e| e.to_string())?;
    let run = |model: &mut dyn LoadedModel, inputs: Vec<Tensor>| {
        model.run(inputs).map_err(|e| format!("the probe run failed: {e}"))
    };
    let whole = run(model, inputs.clone())?;
    for row in 0..rows {
        let alone: Vec<Tensor> = inputs
            .iter()
            .map(|t| t.slice_rows(row..row + 1).and_then(|t| t.pad_rows(rows)))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let got = run(model, alone)?;
        for ((spec, w), g) in sig.outputs.iter().zip(&whole).zip(&got) {
            if w.slice_rows(row..row + 1).ok() != g.slice_rows(0..1).ok() {
                return Err(format!(
                    "output {} of row {row} differs with other rows beside it (the backend's \
                     results depend on a row's batch mates)",
                    spec.name
                ));
            }
        }
    }
    Ok(())
}

/// The smaller run sizes at which `model` gives each row exactly the outputs it gets in a run
/// of `rows` rows, as a mask for [`crate::batch::BatchPolicy::buckets`] (bit `k`: the `k`th of
/// `run_sizes(rows)`). Each such size is checked with that many varied rows, in order and reversed,
/// against the same rows in one run of `rows`; a size whose outputs differ in any bit (tract
/// picks another kernel there), or whose run fails, is left out. Call it once
/// [`rows_independent`] has passed at `rows`.
pub fn exact_buckets(model: &mut dyn LoadedModel, rows: usize) -> u32 {
    let sig = model.signature().clone();
    let Ok(inputs) = varied(&sig, rows) else { return 0 };
    let Ok(whole) = model.run(inputs.clone()) else { return 0 };
    let mut mask = 0;
    for (k, size) in super::queue::run_sizes(rows).into_iter().enumerate() {
        let forward: Vec<usize> = (0..size).collect();
        let backward: Vec<usize> = (0..size).rev().collect();
        if [forward, backward].iter().all(|order| same_rows(model, &inputs, &whole, order)) {
            mask |= 1 << k;
        }
    }
    mask
}

/// Whether the rows `order` of `inputs`, run on their own in that order, give exactly those
/// rows of `whole` (the outputs of one run of all of `inputs`).
fn same_rows(
    model: &mut dyn LoadedModel,
    inputs: &[Tensor],
    whole: &[Tensor],
    order: &[usize],
) -> bool {
    let pick = |t: &Tensor| {
        let rows: Vec<Tensor> =
            order.iter().map(|&r| t.slice_rows(r..r + 1)).collect::<Result<_, _>>()?;
        Tensor::concat_rows(&rows)
    };
    let Ok(picked) = inputs.iter().map(pick).collect::<Result<Vec<_>, _>>() else { return false };
    let Ok(got) = model.run(picked) else { return false };
    got.len() == whole.len()
        && whole.iter().zip(&got).all(|(w, g)| {
            order.iter().enumerate().all(|(i, &r)| {
                matches!((w.slice_rows(r..r + 1), g.slice_rows(i..i + 1)), (Ok(a), Ok(b)) if a == b)
            })
        })
}

/// Inputs of `rows` rows: floating-point elements varied (a fixed pseudo-random sequence in
/// [-2, 2)), other types zeros; dynamic dimensions past the batch are 1.
fn varied(sig: &Signature, rows: usize) -> Result<Vec<Tensor>, edgeserve_accel::AccelError> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0
    };
    sig.zeros(rows)?
        .into_iter()
        .map(|t| {
            let (shape, data) = t.into_parts();
            let n = data.len();
            let data = match data {
                TensorData::F32(_) => TensorData::F32((0..n).map(|_| next() as f32).collect()),
                TensorData::F64(_) => TensorData::F64((0..n).map(|_| next()).collect()),
                TensorData::F16(_) => {
                    TensorData::F16((0..n).map(|_| half::f16::from_f64(next())).collect())
                }
                other => other,
            };
            Tensor::new(shape, data)
        })
        .collect()
}
