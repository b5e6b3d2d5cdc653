//! Gemm and (batched, broadcasting) MatMul.

use super::{bad, broadcast, broadcast_strides, index_meta, to_i32, want_f32, Arg, Lowerer};
use crate::gpu::graph::{Dt, Node};
use crate::AccelError;

pub(super) fn gemm(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let a = l.input(node, 0)?;
    let b = l.input(node, 1)?;
    let c = l.opt_input(node, 2)?;
    want_f32(node, &a)?;
    want_f32(node, &b)?;
    if a.shape.len() != 2 || b.shape.len() != 2 {
        return Err(bad(node, format!("A {:?} and B {:?} must be 2-D", a.shape, b.shape)));
    }
    let (ta, tb) = (node.int("transA", 0) != 0, node.int("transB", 0) != 0);
    let (m, k) = if ta { (a.shape[1], a.shape[0]) } else { (a.shape[0], a.shape[1]) };
    let (kb, n) = if tb { (b.shape[1], b.shape[0]) } else { (b.shape[0], b.shape[1]) };
    if k != kb {
        return Err(bad(node, format!("A {:?} and B {:?} do not multiply", a.shape, b.shape)));
    }
    let (c_slot, crs, ccs, has_c) = match &c {
        Some(c) => {
            want_f32(node, c)?;
            let fits = broadcast(&c.shape, &[m, n]).is_some_and(|s| s == [m, n]);
            if !fits {
                return Err(bad(node, format!("C {:?} does not broadcast to [{m},{n}]", c.shape)));
            }
            let s = broadcast_strides(&c.shape, &[m, n]);
            (c.slot.clone(), s[0], s[1], 1)
        }
        None => (a.slot.clone(), 0, 0, 0),
    };
    let y = l.temp(Dt::F32, vec![m, n]);
    let args = vec![
        Arg::Buf(a.slot),
        Arg::Buf(b.slot),
        Arg::Buf(c_slot),
        Arg::Buf(y.slot.clone()),
        Arg::Int(to_i32(node, m)?),
        Arg::Int(to_i32(node, n)?),
        Arg::Int(to_i32(node, k)?),
        Arg::Int(ta as i32),
        Arg::Int(tb as i32),
        Arg::Float(node.float("alpha", 1.0)),
        Arg::Float(node.float("beta", 1.0)),
        Arg::Int(to_i32(node, crs)?),
        Arg::Int(to_i32(node, ccs)?),
        Arg::Int(has_c),
        Arg::Int(node.fused_relu as i32),
        Arg::Int(to_i32(node, m * n)?),
    ];
    l.launch(node, "gemm", m * n, args);
    l.set_output(node, 0, y);
    Ok(())
}

pub(super) fn matmul(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let a = l.input(node, 0)?;
    let b = l.input(node, 1)?;
    want_f32(node, &a)?;
    want_f32(node, &b)?;
    if a.shape.is_empty() || b.shape.is_empty() {
        return Err(bad(node, "operands must have rank 1 or more"));
    }
    // 1-D operands are promoted (A to a row, B to a column) and the extra axis dropped after.
    let a_shape = if a.shape.len() == 1 { vec![1, a.shape[0]] } else { a.shape.clone() };
    let b_shape = if b.shape.len() == 1 { vec![b.shape[0], 1] } else { b.shape.clone() };
    let (m, k) = (a_shape[a_shape.len() - 2], a_shape[a_shape.len() - 1]);
    let (kb, n) = (b_shape[b_shape.len() - 2], b_shape[b_shape.len() - 1]);
    if k != kb {
        return Err(bad(node, format!("A {:?} and B {:?} do not multiply", a.shape, b.shape)));
    }
    let a_batch = &a_shape[..a_shape.len() - 2];
    let b_batch = &b_shape[..b_shape.len() - 2];
    let batch = broadcast(a_batch, b_batch).ok_or_else(|| {
        bad(node, format!("batch dimensions of {:?} and {:?} do not broadcast", a.shape, b.shape))
    })?;
    // Strides in whole matrices, scaled to elements.
    let sa: Vec<usize> = broadcast_strides(a_batch, &batch).iter().map(|s| s * m * k).collect();
    let sb: Vec<usize> = broadcast_strides(b_batch, &batch).iter().map(|s| s * k * n).collect();
    let meta = index_meta(node, &batch, &sa, &sb)?;
    let mut out = batch.clone();
    if a.shape.len() > 1 {
        out.push(m);
    }
    if b.shape.len() > 1 {
        out.push(n);
    }
    let total = batch.iter().product::<usize>() * m * n;
    let y = l.temp(Dt::F32, out);
    let args = vec![
        Arg::Buf(a.slot),
        Arg::Buf(b.slot),
        Arg::Buf(y.slot.clone()),
        Arg::Meta(meta),
        Arg::Int(to_i32(node, m)?),
        Arg::Int(to_i32(node, n)?),
        Arg::Int(to_i32(node, k)?),
        Arg::Int(node.fused_relu as i32),
        Arg::Int(to_i32(node, total)?),
    ];
    l.launch(node, "matmul", total, args);
    l.set_output(node, 0, y);
    Ok(())
}
