//! Reductions over axes: Softmax, ReduceMean and GlobalAveragePool.

use super::{axis, bad, to_i32, want_f32, Arg, Lowerer};
use crate::gpu::graph::{Dt, Node};
use crate::AccelError;

pub(super) fn softmax(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let x = l.input(node, 0)?;
    want_f32(node, &x)?;
    let rank = x.shape.len();
    // Opset 13 normalises along one axis; earlier opsets over every axis from `axis` on.
    let (outer, len, inner) = if l.opset() >= 13 {
        let a = axis(node, node.int("axis", -1), rank)?;
        (x.shape[..a].iter().product(), x.shape[a], x.shape[a + 1..].iter().product())
    } else {
        let a = axis(node, node.int("axis", 1), rank)?;
        (x.shape[..a].iter().product::<usize>(), x.shape[a..].iter().product(), 1)
    };
    let y = l.temp(Dt::F32, x.shape.clone());
    let n = outer * inner;
    let args = vec![
        Arg::Buf(x.slot),
        Arg::Buf(y.slot.clone()),
        Arg::Int(to_i32(node, len)?),
        Arg::Int(to_i32(node, inner)?),
        Arg::Int(to_i32(node, n)?),
    ];
    l.launch(node, "softmax", n, args);
    l.set_output(node, 0, y);
    Ok(())
}

/// Mean over a contiguous run of axes `[first, last]`, as `[outer, len, inner] -> [outer, inner]`.
fn mean(
    l: &mut Lowerer,
    node: &Node,
    first: usize,
    last: usize,
    out_shape: Vec<usize>,
) -> Result<(), AccelError> {
    let x = l.input(node, 0)?;
    want_f32(node, &x)?;
    let len: usize = x.shape[first..=last].iter().product();
    let inner: usize = x.shape[last + 1..].iter().product();
    let y = l.temp(Dt::F32, out_shape);
    let n = y.len();
    let args = vec![
        Arg::Buf(x.slot),
        Arg::Buf(y.slot.clone()),
        Arg::Int(to_i32(node, len)?),
        Arg::Int(to_i32(node, inner)?),
        Arg::Int(to_i32(node, n)?),
    ];
    l.launch(node, "reduce_mean", n, args);
    l.set_output(node, 0, y);
    Ok(())
}

pub(super) fn global_average_pool(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let x = l.input(node, 0)?;
    if x.shape.len() < 3 {
        return Err(bad(node, format!("input {:?} needs spatial dimensions", x.shape)));
    }
    let mut out = x.shape.clone();
    for d in out.iter_mut().skip(2) {
        *d = 1;
    }
    mean(l, node, 2, x.shape.len() - 1, out)
}

pub(super) fn reduce_mean(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let x = l.input(node, 0)?;
    let rank = x.shape.len();
    let axes = if l.opset() >= 18 {
        if node.input(1).is_some() {
            Some(l.const_input(node, 1)?.as_i64())
        } else {
            None
        }
    } else {
        node.ints("axes")
    };
    let mut axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => {
            a.iter().map(|&a| axis(node, a, rank)).collect::<Result<_, _>>()?
        }
        _ if node.int("noop_with_empty_axes", 0) != 0 => {
            l.set_output(node, 0, x);
            return Ok(());
        }
        _ => (0..rank).collect(),
    };
    axes.sort_unstable();
    axes.dedup();
    let (first, last) = (axes[0], axes[axes.len() - 1]);
    if last - first + 1 != axes.len() {
        return Err(bad(node, format!("axes {axes:?} are not contiguous")));
    }
    let keep = node.int("keepdims", 1) != 0;
    let out: Vec<usize> = x
        .shape
        .iter()
        .enumerate()
        .filter_map(|(i, &d)| match (axes.contains(&i), keep) {
            (false, _) => Some(d),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    mean(l, node, first, last, out)
}
