//! The runnable plans of one CPU model: one plan for every batch size (a symbolic batch), or,
//! for graphs whose shape arithmetic needs a concrete batch (e.g. `Resize` with `sizes` from
//! `Shape(x)`), one plan per batch size made on first use from the decluttered model.

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::prelude::{IntoRunnable, Symbol, TDim, TValue, TVec, TypedModel, TypedSimplePlan};

use crate::AccelError;

/// Plans kept per batch size in per-batch mode; the least recently used is dropped past this.
/// The daemon's batches use up to 11 sizes at `max_batch_size` 64 (powers of two, three
/// quarter points above the largest, the maximum: `batch::run_sizes`), so all stay planned.
const PER_BATCH_PLANS: usize = 12;

/// How a model runs.
pub enum Plans {
    /// One optimised plan for any batch size.
    Symbolic(Arc<TypedSimplePlan>),
    /// The symbolic plan, until a run meets a dimension that needs the batch bound: then
    /// per-batch plans from then on.
    PerBatchFallback { symbolic: Arc<TypedSimplePlan>, decluttered: Arc<TypedModel>, batch: Symbol },
    /// Plans made per batch size from `decluttered` with `batch` bound, most recent last.
    PerBatch {
        decluttered: Arc<TypedModel>,
        batch: Symbol,
        plans: Vec<(usize, Arc<TypedSimplePlan>)>,
    },
}

/// Whether a run error comes from a dimension that needs a concrete batch.
pub fn needs_concrete_batch(e: &tract_onnx::prelude::TractError) -> bool {
    let text = format!("{e:#}");
    text.contains("Undetermined symbol") || text.contains("undetermined symbol")
}

/// Binds `batch` to `n` and optimises the result.
fn concrete(
    decluttered: &TypedModel,
    batch: &Symbol,
    n: usize,
) -> Result<Arc<TypedSimplePlan>, AccelError> {
    let subs = HashMap::from([(batch.clone(), TDim::Val(n as i64))]);
    decluttered
        .set_symbols(&subs)
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .map_err(|e| AccelError::Unsupported {
            what: format!("running the model at batch size {n}: {e:#}"),
        })
}

impl Plans {
    /// Runs `values` (batch size `n`), making and caching a plan for `n` in per-batch mode.
    pub fn run(&mut self, n: usize, values: TVec<TValue>) -> Result<TVec<TValue>, RunError> {
        match self {
            Plans::Symbolic(plan) => plan.run(values).map_err(RunError::Tract),
            Plans::PerBatchFallback { symbolic, decluttered, batch } => {
                match symbolic.run(values.clone()) {
                    Err(e) if needs_concrete_batch(&e) => {
                        tracing::info!(
                            error = %format!("{e:#}"),
                            "the graph needs a concrete batch size: planning it per batch size"
                        );
                        *self = Plans::PerBatch {
                            decluttered: decluttered.clone(),
                            batch: batch.clone(),
                            plans: Vec::new(),
                        };
                        self.run(n, values)
                    }
                    other => other.map_err(RunError::Tract),
                }
            }
            Plans::PerBatch { decluttered, batch, plans } => {
                let plan = match plans.iter().position(|(b, _)| *b == n) {
                    Some(i) => {
                        let entry = plans.remove(i);
                        plans.push(entry);
                        plans[plans.len() - 1].1.clone()
                    }
                    None => {
                        let plan = concrete(decluttered, batch, n).map_err(RunError::Accel)?;
                        if plans.len() >= PER_BATCH_PLANS {
                            plans.remove(0);
                        }
                        plans.push((n, plan.clone()));
                        plan
                    }
                };
                plan.run(values).map_err(RunError::Tract)
            }
        }
    }
}

/// Why a run failed.
pub enum RunError {
    Tract(tract_onnx::prelude::TractError),
    Accel(AccelError),
}
