//! Ops that move data by index: Concat and Gather (axis moves, slices and broadcasts are strided
//! views, see `crate::gpu::place`).

use super::{axis, bad, to_i32, Arg, Lowerer, Val};
use crate::gpu::graph::{Dt, Node};
use crate::AccelError;

pub(super) fn concat(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let parts: Vec<Val> = (0..node.inputs.len())
        .filter_map(|i| l.opt_input(node, i).transpose())
        .collect::<Result<_, _>>()?;
    let first = parts.first().ok_or_else(|| bad(node, "no inputs"))?;
    let rank = first.shape.len();
    let ax = axis(node, node.int("axis", 0), rank)?;
    let mut out = first.shape.clone();
    out[ax] = 0;
    for p in &parts {
        let same = p.shape.len() == rank
            && p.dt == first.dt
            && (0..rank).all(|d| d == ax || p.shape[d] == first.shape[d]);
        if !same {
            return Err(bad(
                node,
                format!("input shapes {:?} and {:?} differ off axis {ax}", first.shape, p.shape),
            ));
        }
        out[ax] += p.shape[ax];
    }
    let inner: usize = out[ax + 1..].iter().product();
    let out_len = out[ax] * inner;
    let y = l.temp(first.dt, out);
    let kernel = if first.dt == Dt::F32 { "concat_part_f32" } else { "concat_part_i64" };
    let mut offset = 0;
    for p in parts {
        let in_len = p.shape[ax] * inner;
        let n = p.len();
        let args = vec![
            Arg::Buf(p.slot),
            Arg::Buf(y.slot.clone()),
            Arg::Int(to_i32(node, in_len)?),
            Arg::Int(to_i32(node, out_len)?),
            Arg::Int(to_i32(node, offset)?),
            Arg::Int(to_i32(node, n)?),
        ];
        l.launch(node, kernel, n, args);
        offset += in_len;
    }
    l.set_output(node, 0, y);
    Ok(())
}

pub(super) fn gather(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let data = l.input(node, 0)?;
    let idx = l.input(node, 1)?;
    if idx.dt != Dt::I64 {
        return Err(bad(node, "indices must be i64"));
    }
    let ax = axis(node, node.int("axis", 0), data.shape.len())?;
    let mut out = data.shape[..ax].to_vec();
    out.extend_from_slice(&idx.shape);
    out.extend_from_slice(&data.shape[ax + 1..]);
    let inner: usize = data.shape[ax + 1..].iter().product();
    let y = l.temp(data.dt, out);
    let n = y.len();
    let kernel = if data.dt == Dt::F32 { "gather_f32" } else { "gather_i64" };
    let args = vec![
        Arg::Buf(data.slot.clone()),
        Arg::Buf(idx.slot.clone()),
        Arg::Buf(y.slot.clone()),
        Arg::Status,
        Arg::Int(to_i32(node, data.shape[ax])?),
        Arg::Int(to_i32(node, inner)?),
        Arg::Int(to_i32(node, idx.len())?),
        Arg::Int(to_i32(node, n)?),
    ];
    l.launch(node, kernel, n, args);
    l.set_output(node, 0, y);
    Ok(())
}
