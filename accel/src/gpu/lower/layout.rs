//! Ops that move data without arithmetic: Reshape, Flatten, Identity (no copy at all),
//! Transpose, Concat and Gather.

use super::{axis, bad, index_meta, strides, to_i32, Arg, Lowerer, Val};
use crate::gpu::graph::{Dt, Node};
use crate::AccelError;

/// Reshape, Flatten and Identity relabel the input's buffer with a new shape.
pub(super) fn reshape(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let x = l.input(node, 0)?;
    let shape = match node.op.as_str() {
        "Flatten" => {
            let a = axis(node, node.int("axis", 1), x.shape.len() + 1)?;
            vec![x.shape[..a].iter().product(), x.shape[a..].iter().product()]
        }
        "Reshape" => {
            let target = l.const_input(node, 1)?.as_i64();
            let allow_zero = node.int("allowzero", 0) != 0;
            reshaped(node, &x.shape, &target, allow_zero)?
        }
        _ => x.shape.clone(),
    };
    l.set_output(node, 0, Val { slot: x.slot, dt: x.dt, shape });
    Ok(())
}

/// ONNX Reshape's target: `0` copies a dimension (unless `allowzero`), `-1` is inferred.
fn reshaped(
    node: &Node,
    input: &[usize],
    target: &[i64],
    allow_zero: bool,
) -> Result<Vec<usize>, AccelError> {
    let total: usize = input.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &d) in target.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allow_zero => out.push(*input.get(i).ok_or_else(|| {
                bad(node, format!("shape {target:?} copies dimension {i} the input lacks"))
            })?),
            d if d >= 0 => out.push(d as usize),
            _ => return Err(bad(node, format!("invalid target shape {target:?}"))),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(bad(node, format!("cannot reshape {input:?} into {target:?}")));
        }
        out[i] = total / known;
    } else if known != total {
        return Err(bad(node, format!("cannot reshape {input:?} into {target:?}")));
    }
    Ok(out)
}

pub(super) fn transpose(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let x = l.input(node, 0)?;
    let rank = x.shape.len();
    let perm: Vec<usize> = match node.ints("perm") {
        Some(p) => p.iter().map(|&a| axis(node, a, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).rev().collect(),
    };
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..rank).collect::<Vec<_>>() {
        return Err(bad(node, format!("perm {perm:?} is not a permutation of rank {rank}")));
    }
    let out: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let s = strides(&x.shape);
    let src: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
    let meta = index_meta(node, &out, &src, &[])?;
    let y = l.temp(x.dt, out);
    let n = to_i32(node, y.len())?;
    let kernel = if x.dt == Dt::F32 { "gather_strided_f32" } else { "gather_strided_i64" };
    let args = vec![Arg::Buf(x.slot), Arg::Buf(y.slot.clone()), Arg::Meta(meta), Arg::Int(n)];
    l.launch(node, kernel, y.len(), args);
    l.set_output(node, 0, y);
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Node {
        Node {
            op: "Reshape".into(),
            domain: String::new(),
            name: "r".into(),
            inputs: vec![],
            outputs: vec![],
            attrs: vec![],
            fused_relu: false,
        }
    }

    #[test]
    fn reshape_copies_zero_and_infers_minus_one() {
        assert_eq!(reshaped(&node(), &[7, 2, 3], &[0, -1], false).unwrap(), vec![7, 6]);
        assert_eq!(reshaped(&node(), &[7, 2, 3], &[-1, 3], false).unwrap(), vec![14, 3]);
        let err = reshaped(&node(), &[7, 2, 3], &[5, -1], false).unwrap_err().to_string();
        assert!(err.contains("cannot reshape [7, 2, 3] into [5, -1]"), "{err}");
    }
}
