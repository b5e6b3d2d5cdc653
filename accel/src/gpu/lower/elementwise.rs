//! Activations, arithmetic with broadcasting, and casts.

use super::{bad, broadcast, broadcast_strides, index_meta, to_i32, want_f32, Arg, Lowerer};
use crate::gpu::graph::{Dt, Node};
use crate::AccelError;

/// Operation codes of the `unary_f32` kernel.
const IDENTITY: i32 = 0;
const RELU: i32 = 1;
const LEAKY_RELU: i32 = 2;
const SIGMOID: i32 = 3;
const TANH: i32 = 4;
const CLIP: i32 = 5;

/// The `unary_f32` code of an element-wise op that takes no parameter (by tract's and ONNX's
/// op name), if the kernel has it.
pub(crate) fn unary_code(op: &str) -> Option<i32> {
    Some(match op {
        "Relu" => RELU,
        "Sigmoid" => SIGMOID,
        "Tanh" => TANH,
        "Exp" => 6,
        "Ln" | "Log" => 7,
        "Sqrt" => 8,
        "Rsqrt" => 9,
        "Recip" | "Reciprocal" => 10,
        "Abs" => 11,
        "Neg" => 12,
        "Square" => 13,
        "HardSwish" => 14,
        "Erf" => 15,
        "Floor" => 16,
        "Ceil" => 17,
        "Sin" => 18,
        "Cos" => 19,
        "Gelu" | "GeluExact" => 21,
        "Silu" => 22,
        _ => return None,
    })
}

/// The `unary_f32` code of x to a constant power `a` (integral powers exact for negative x).
pub(crate) const POW_CONST: i32 = 24;

/// The `unary_f32` code of HardSigmoid (`min(max(alpha * x + beta, 0), 1)`).
pub(crate) const HARD_SIGMOID: i32 = 20;

/// The `binary_*` code of an element-wise binary op, if the kernels have it (`Pow`: f32 only).
pub(crate) fn binary_code(op: &str) -> Option<i32> {
    Some(match op {
        "Add" => 0,
        "Sub" => 1,
        "Mul" => 2,
        "Div" => 3,
        "Max" => 4,
        "Min" => 5,
        "Pow" => 6,
        _ => return None,
    })
}

pub(super) fn unary(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let x = l.input(node, 0)?;
    want_f32(node, &x)?;
    let (op, a, b) = match node.op.as_str() {
        "LeakyRelu" => (LEAKY_RELU, node.float("alpha", 0.01), 0.0),
        "HardSigmoid" => (HARD_SIGMOID, node.float("alpha", 0.2), node.float("beta", 0.5)),
        "PowConst" => (POW_CONST, node.float("exponent", 1.0), 0.0),
        "Clip" => {
            let (lo, hi) = clip_bounds(l, node)?;
            (CLIP, lo, hi)
        }
        other => (unary_code(other).unwrap_or(IDENTITY), 0.0, 0.0),
    };
    let y = l.temp(Dt::F32, x.shape.clone());
    let n = to_i32(node, y.len())?;
    let args = vec![
        Arg::Buf(x.slot),
        Arg::Buf(y.slot.clone()),
        Arg::Int(op),
        Arg::Float(a),
        Arg::Float(b),
        Arg::Int(n),
    ];
    l.launch(node, "unary_f32", y.len(), args);
    l.set_output(node, 0, y);
    Ok(())
}

/// Clip's bounds: attributes before opset 11, constant inputs since.
fn clip_bounds(l: &Lowerer, node: &Node) -> Result<(f32, f32), AccelError> {
    if l.opset() < 11 {
        return Ok((node.float("min", f32::MIN), node.float("max", f32::MAX)));
    }
    let bound = |ix: usize, default: f32| -> Result<f32, AccelError> {
        if node.input(ix).is_none() {
            return Ok(default);
        }
        let t = l.const_input(node, ix)?;
        match t.as_f32().as_slice() {
            [v] => Ok(*v),
            _ => Err(bad(node, format!("bound {ix} must be a scalar"))),
        }
    };
    Ok((bound(1, f32::MIN)?, bound(2, f32::MAX)?))
}

pub(super) fn binary(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let a = l.input(node, 0)?;
    let b = l.input(node, 1)?;
    if a.dt != b.dt {
        return Err(bad(node, format!("operands differ in type ({:?} and {:?})", a.dt, b.dt)));
    }
    let out = broadcast(&a.shape, &b.shape).ok_or_else(|| {
        bad(node, format!("shapes {:?} and {:?} do not broadcast", a.shape, b.shape))
    })?;
    let op = binary_code(&node.op).ok_or_else(|| bad(node, "no kernel for this op"))?;
    if op == 6 && a.dt != Dt::F32 {
        return Err(bad(node, "Pow runs on f32 only"));
    }
    let meta = index_meta(
        node,
        &out,
        &broadcast_strides(&a.shape, &out),
        &broadcast_strides(&b.shape, &out),
    )?;
    let y = l.temp(a.dt, out);
    let n = to_i32(node, y.len())?;
    let kernel = match a.dt {
        Dt::F32 => "binary_f32",
        Dt::I64 => "binary_i64",
    };
    let args = vec![
        Arg::Buf(a.slot),
        Arg::Buf(b.slot),
        Arg::Buf(y.slot.clone()),
        Arg::Meta(meta),
        Arg::Int(op),
        Arg::Int(n),
    ];
    l.launch(node, kernel, y.len(), args);
    l.set_output(node, 0, y);
    Ok(())
}

pub(super) fn cast(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let x = l.input(node, 0)?;
    let to = match node.int("to", 0) {
        1 => Dt::F32,
        7 => Dt::I64,
        other => return Err(bad(node, format!("cast to ONNX type {other} (f32 and i64 only)"))),
    };
    if to == x.dt {
        l.set_output(node, 0, x);
        return Ok(());
    }
    let kernel = match to {
        Dt::F32 => "cast_i64_f32",
        Dt::I64 => "cast_f32_i64",
    };
    let y = l.temp(to, x.shape.clone());
    let n = to_i32(node, y.len())?;
    l.launch(node, kernel, y.len(), vec![Arg::Buf(x.slot), Arg::Buf(y.slot.clone()), Arg::Int(n)]);
    l.set_output(node, 0, y);
    Ok(())
}
