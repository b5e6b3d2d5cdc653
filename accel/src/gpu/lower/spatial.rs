//! 2-D convolution, pooling and batch normalisation over NCHW tensors.

use super::{bad, to_i32, want_f32, Arg, Lowerer, Val};
use crate::gpu::graph::{Dt, Node};
use crate::AccelError;

/// The geometry of a 2-D sliding window along both spatial axes.
struct Window {
    strides: [usize; 2],
    dilations: [usize; 2],
    /// Padding at the start and end of each axis.
    pad_begin: [usize; 2],
    pad_end: [usize; 2],
    out: [usize; 2],
}

fn pair(node: &Node, name: &str, default: usize) -> Result<[usize; 2], AccelError> {
    match node.ints(name) {
        None => Ok([default, default]),
        Some(v) if v.len() == 2 && v.iter().all(|&x| x >= 1) => Ok([v[0] as usize, v[1] as usize]),
        Some(v) => Err(bad(node, format!("{name} {v:?} must be two positive integers"))),
    }
}

fn window(
    node: &Node,
    input: [usize; 2],
    kernel: [usize; 2],
    ceil: bool,
) -> Result<Window, AccelError> {
    let strides = pair(node, "strides", 1)?;
    let dilations = pair(node, "dilations", 1)?;
    let auto_pad = node.string("auto_pad").unwrap_or_else(|| "NOTSET".into());
    let mut pad_begin = [0; 2];
    let mut pad_end = [0; 2];
    let mut out = [0; 2];
    for i in 0..2 {
        let span = dilations[i] * (kernel[i] - 1) + 1;
        match auto_pad.as_str() {
            "NOTSET" => {
                if let Some(p) = node.ints("pads") {
                    if p.len() != 4 || p.iter().any(|&x| x < 0) {
                        return Err(bad(
                            node,
                            format!("pads {p:?} must be four non-negative integers"),
                        ));
                    }
                    pad_begin[i] = p[i] as usize;
                    pad_end[i] = p[i + 2] as usize;
                }
                let padded = input[i] + pad_begin[i] + pad_end[i];
                if padded < span {
                    return Err(bad(
                        node,
                        format!("window {span} is larger than the padded input {padded}"),
                    ));
                }
                out[i] = if ceil {
                    let mut o = (padded - span).div_ceil(strides[i]) + 1;
                    // The last window must start inside the input or its begin padding.
                    if (o - 1) * strides[i] >= input[i] + pad_begin[i] {
                        o -= 1;
                    }
                    o
                } else {
                    (padded - span) / strides[i] + 1
                };
            }
            "VALID" => {
                if input[i] < span {
                    return Err(bad(
                        node,
                        format!("window {span} is larger than the input {}", input[i]),
                    ));
                }
                out[i] = (input[i] - span) / strides[i] + 1;
            }
            "SAME_UPPER" | "SAME_LOWER" => {
                out[i] = input[i].div_ceil(strides[i]);
                let total = ((out[i] - 1) * strides[i] + span).saturating_sub(input[i]);
                let small = total / 2;
                let (b, e) = if auto_pad == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                pad_begin[i] = b;
                pad_end[i] = e;
            }
            other => return Err(bad(node, format!("auto_pad {other}"))),
        }
    }
    Ok(Window { strides, dilations, pad_begin, pad_end, out })
}

fn nchw(node: &Node, x: &Val) -> Result<[usize; 4], AccelError> {
    match x.shape.as_slice() {
        [n, c, h, w] => Ok([*n, *c, *h, *w]),
        s => Err(bad(node, format!("input {s:?} is not 4-D NCHW (2-D spatial ops only)"))),
    }
}

pub(super) fn conv(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    let x = l.input(node, 0)?;
    let w = l.input(node, 1)?;
    let b = l.opt_input(node, 2)?;
    want_f32(node, &x)?;
    want_f32(node, &w)?;
    let [n, c, h, wd] = nchw(node, &x)?;
    let [m, cpg, kh, kw] = match w.shape.as_slice() {
        [m, cpg, kh, kw] => [*m, *cpg, *kh, *kw],
        s => return Err(bad(node, format!("weights {s:?} are not 4-D"))),
    };
    let groups = usize::try_from(node.int("group", 1)).unwrap_or(0);
    if groups == 0 || c % groups != 0 || m % groups != 0 || c / groups != cpg {
        return Err(bad(
            node,
            format!("group {groups} does not fit {c} input channels and weights {:?}", w.shape),
        ));
    }
    if let Some(k) = node.ints("kernel_shape") {
        if k != [kh as i64, kw as i64] {
            return Err(bad(
                node,
                format!("kernel_shape {k:?} differs from the weights {:?}", w.shape),
            ));
        }
    }
    if let Some(b) = &b {
        if b.shape != [m] {
            return Err(bad(node, format!("bias {:?} must be [{m}]", b.shape)));
        }
    }
    let win = window(node, [h, wd], [kh, kw], false)?;
    let y = l.temp(Dt::F32, vec![n, m, win.out[0], win.out[1]]);
    let meta = [
        n,
        c,
        h,
        wd,
        m,
        win.out[0],
        win.out[1],
        kh,
        kw,
        win.strides[0],
        win.strides[1],
        win.pad_begin[0],
        win.pad_begin[1],
        win.dilations[0],
        win.dilations[1],
        groups,
        b.is_some() as usize,
        node.fused_relu as usize,
    ];
    let meta = meta.iter().map(|&v| to_i32(node, v)).collect::<Result<Vec<_>, _>>()?;
    // Four output columns per work item (`conv2d_w4`) when rows are at least 4 wide.
    let (kernel, total) = if win.out[1] >= 4 {
        ("conv2d_w4", y.len() / win.out[1] * win.out[1].div_ceil(4))
    } else {
        ("conv2d", y.len())
    };
    let args = vec![
        Arg::Buf(x.slot.clone()),
        Arg::Buf(w.slot),
        Arg::Buf(b.map(|b| b.slot).unwrap_or(x.slot)),
        Arg::Buf(y.slot.clone()),
        Arg::Meta(meta),
        Arg::Int(to_i32(node, total)?),
    ];
    l.launch(node, kernel, total, args);
    l.set_output(node, 0, y);
    Ok(())
}

pub(super) fn pool(l: &mut Lowerer, node: &Node) -> Result<(), AccelError> {
    if node.outputs.get(1).is_some_and(|o| !o.is_empty()) {
        return Err(bad(node, "the Indices output is not supported"));
    }
    let x = l.input(node, 0)?;
    want_f32(node, &x)?;
    let [n, c, h, w] = nchw(node, &x)?;
    let kernel = match node.ints("kernel_shape") {
        Some(k) if k.len() == 2 && k.iter().all(|&v| v >= 1) => [k[0] as usize, k[1] as usize],
        other => {
            return Err(bad(node, format!("kernel_shape {other:?} must be two positive integers")))
        }
    };
    let win = window(node, [h, w], kernel, node.int("ceil_mode", 0) != 0)?;
    let y = l.temp(Dt::F32, vec![n, c, win.out[0], win.out[1]]);
    let meta = [
        n * c,
        h,
        w,
        win.out[0],
        win.out[1],
        kernel[0],
        kernel[1],
        win.strides[0],
        win.strides[1],
        win.pad_begin[0],
        win.pad_begin[1],
        win.pad_end[0],
        win.pad_end[1],
        win.dilations[0],
        win.dilations[1],
        node.int("count_include_pad", 0) as usize,
    ];
    let meta = meta.iter().map(|&v| to_i32(node, v)).collect::<Result<Vec<_>, _>>()?;
    let kernel = if node.op == "MaxPool" { "maxpool2d" } else { "avgpool2d" };
    let total = y.len();
    let args = vec![
        Arg::Buf(x.slot),
        Arg::Buf(y.slot.clone()),
        Arg::Meta(meta),
        Arg::Int(to_i32(node, total)?),
    ];
    l.launch(node, kernel, total, args);
    l.set_output(node, 0, y);
    Ok(())
}
