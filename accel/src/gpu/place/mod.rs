//! Placement: which node of a model runs on the device and which on the host, and the copies
//! at the boundaries. The design follows tract's own GPU runtimes (`tract-gpu`'s transform):
//! the graph is tract's **typed, decluttered** model at a concrete batch size, so exporter idioms
//! (shape arithmetic, `Unsqueeze`, `Split`, folded BatchNorm, Relu as `max(x, 0)`) are already
//! folded into a small core op set. Each node `ops` can lower runs as OpenCL launches; every
//! other node stays a host op that tract evaluates, and values cross with an upload or a
//! download where a device node reads a host value or the reverse (tract-gpu's `DeviceSync`).
//!
//! A node runs on the device when every input and output is f32 or i64 with a concrete shape
//! and `ops` has a lowering for it. A GPU deployment therefore never fails for an op the CPU
//! target runs: at worst the whole graph runs on the host.

mod ops;

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::prelude::{DatumType, OutletId, TValue, Tensor as TractTensor, TypedModel};
use tract_onnx::tract_core::ops::konst::Const;
use tract_onnx::tract_core::ops::source::TypedSource;

use super::graph::{Dt, HostData, HostTensor};
use super::lower::{content_key, HostIn, Item, Lowerer, Output, Plan, Slot, Val};
use crate::AccelError;

/// A plan for one batch size and the constants its launches read.
pub(crate) struct Placed {
    pub plan: Plan,
    pub consts: HashMap<String, HostTensor>,
}

/// The name lowering uses for a node output.
pub(crate) fn outlet_name(o: OutletId) -> String {
    format!("{}.{}", o.node, o.slot)
}

/// The device type of a tract type, if kernels compute on it.
pub(crate) fn device_dt(dt: DatumType) -> Option<Dt> {
    match dt {
        DatumType::F32 => Some(Dt::F32),
        DatumType::I64 => Some(Dt::I64),
        _ => None,
    }
}

/// A constant as the device holds it (f32 and i64 only).
fn host_tensor(t: &TractTensor) -> Option<HostTensor> {
    let dt = device_dt(t.datum_type())?;
    let view = t.try_as_plain_ram().ok()?;
    let data = match dt {
        Dt::F32 => HostData::F32(view.as_slice::<f32>().ok()?.to_vec()),
        Dt::I64 => HostData::I64(view.as_slice::<i64>().ok()?.to_vec()),
    };
    Some(HostTensor { shape: t.shape().to_vec(), data })
}

fn internal(e: tract_onnx::prelude::TractError) -> AccelError {
    AccelError::Internal(format!("placing the model on the GPU: {e:#}"))
}

/// Places `model` (typed, decluttered, every dimension concrete) for one batch size.
pub(crate) fn place(model: Arc<TypedModel>) -> Result<Placed, AccelError> {
    let order = model.eval_order().map_err(internal)?;
    // Constants are named by content: every batch size's plan shares their device buffers.
    let mut consts = HashMap::new();
    let mut const_vals = Vec::new();
    for &id in &order {
        let node = model.node(id);
        if node.op_is::<Const>() {
            if let Some(t) = node.outputs[0].fact.konst.as_ref().and_then(|k| host_tensor(k)) {
                let key = content_key(&t);
                let v = Val { slot: Slot::Const(key.clone()), dt: t.dt(), shape: t.shape.clone() };
                const_vals.push((outlet_name(OutletId::new(id, 0)), v));
                consts.insert(key, t);
            }
        }
    }
    let mut l = Lowerer::new(&consts, 13);
    for (name, v) in const_vals {
        l.set_value(name, v);
    }
    let inputs = model.input_outlets().map_err(internal)?.to_vec();
    let mut host_of: HashMap<OutletId, usize> =
        inputs.iter().enumerate().map(|(i, o)| (*o, i)).collect();
    let mut next_host = inputs.len();
    let mut items = Vec::new();
    let mut split = crate::Placement::default();
    let mut host_ops = Vec::new();
    let fusions = ops::relu_fusions(&model);
    let fused_producers: std::collections::HashSet<usize> = fusions.values().copied().collect();
    let mut fused_done = std::collections::HashSet::new();
    for &id in &order {
        let node = model.node(id);
        if node.op_is::<TypedSource>() || node.op_is::<Const>() {
            continue;
        }
        // A Relu its producer applied: the producer's output is this node's.
        if let Some(producer) = fusions.get(&id).filter(|p| fused_done.contains(*p)) {
            let v = l.value(&outlet_name(OutletId::new(*producer, 0))).ok_or_else(|| {
                AccelError::Internal(format!("fused producer of {} not computed", node.name))
            })?;
            l.set_value(outlet_name(OutletId::new(id, 0)), v);
            split.device_nodes += 1;
            continue;
        }
        if ops::fits_device(&model, node) && ops::lowers(&model, node) {
            // Host values this node reads move to the device first (once per value).
            for &input in ops::device_inputs(node) {
                let name = outlet_name(input);
                if l.value(&name).is_some() {
                    continue;
                }
                let host = *host_of.get(&input).ok_or_else(|| {
                    AccelError::Internal(format!("value {name} is neither on the host nor device"))
                })?;
                let fact = model.outlet_fact(input).map_err(internal)?;
                let (Some(dt), Some(shape)) =
                    (device_dt(fact.datum_type), fact.shape.as_concrete())
                else {
                    return Err(AccelError::Internal(format!("value {name} cannot be uploaded")));
                };
                let v = l.temp(dt, shape.to_vec());
                let Slot::Temp(temp) = v.slot else {
                    return Err(AccelError::Internal("an upload buffer is not a temp".into()));
                };
                items.push(Item::Upload { host, temp });
                l.set_value(name, v);
            }
            let start = l.plan_mut().steps.len();
            let relu = fused_producers.contains(&id);
            match ops::lower(&mut l, &model, node, relu) {
                Ok(()) => {
                    if relu {
                        fused_done.insert(id);
                    }
                    let end = l.plan_mut().steps.len();
                    if end > start {
                        items.push(Item::Launches(start..end));
                    }
                    split.device_nodes += 1;
                    continue;
                }
                // A check lowering makes that placement did not: the node runs on the host
                // (its uploads stay, unused).
                Err(e) => {
                    tracing::debug!(node = %node.name, error = %e, "GPU lowering refused: on the host");
                    l.plan_mut().steps.truncate(start);
                }
            }
        }
        let mut host_inputs = Vec::with_capacity(node.inputs.len());
        for &input in &node.inputs {
            if let Some(&h) = host_of.get(&input) {
                host_inputs.push(HostIn::Value(h));
            } else if let Some(k) = &model.outlet_fact(input).map_err(internal)?.konst {
                host_inputs.push(HostIn::Const(TValue::from_const(k.clone())));
            } else {
                let from: Val = l.value(&outlet_name(input)).ok_or_else(|| {
                    AccelError::Internal(format!("value {input:?} was not computed"))
                })?;
                let host = next_host;
                next_host += 1;
                items.push(Item::Download { from, host });
                host_of.insert(input, host);
                host_inputs.push(HostIn::Value(host));
            }
        }
        let outputs: Vec<usize> = (0..node.outputs.len())
            .map(|slot| {
                let host = next_host;
                next_host += 1;
                host_of.insert(OutletId::new(id, slot), host);
                host
            })
            .collect();
        items.push(Item::Host { node: id, inputs: host_inputs, outputs });
        split.host_nodes += 1;
        host_ops.push(node.op.name().to_string());
    }
    let mut outputs = Vec::new();
    for o in model.output_outlets().map_err(internal)? {
        let out = if let Some(&h) = host_of.get(o) {
            Output::Host(h)
        } else if let Some(v) = l.value(&outlet_name(*o)) {
            Output::Device(v)
        } else if let Some(k) = &model.outlet_fact(*o).map_err(internal)?.konst {
            Output::Const(TValue::from_const(k.clone()))
        } else {
            return Err(AccelError::Internal(format!("output {o:?} was not computed")));
        };
        outputs.push(out);
    }
    host_ops.sort();
    host_ops.dedup();
    split.host_ops = host_ops;
    let typed = (split.host_nodes > 0).then(|| model.clone());
    let mut plan = l.into_plan();
    plan.items = items;
    plan.host_values = next_host;
    plan.outputs = outputs;
    plan.typed = typed;
    plan.split = split;
    Ok(Placed { plan, consts })
}
