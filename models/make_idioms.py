"""Writes models/idioms/: one small graph made of the exporter idioms the first GPU backend
refused op by op (issue 20): shape arithmetic (Shape, Gather, Unsqueeze, Concat into Reshape),
Split, HardSwish, HardSigmoid, Slice, Unsqueeze, Expand, LayerNormalization, Erf-based and tanh-approximated GELU,
ReduceMean, Squeeze, ReduceSumSquare, Pad, MatMul, Softmax, Transpose, a MatMul whose operands broadcast and a GRU (with its initial state from x:
tract 0.23.9 panics on a GRU without one at a symbolic batch), with
onnxruntime's outputs at batch 1, 3 and 5 in reference.json.

Run (never in CI): python3 -m pip install onnx onnxruntime numpy; python3 models/make_idioms.py
"""

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261130)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def const_i64(name, values):
    return init(name, np.array(values, dtype=np.int64))


def build():
    f32 = np.float32
    nodes = [
        # Shape arithmetic: reshape x [N, 6, 8] to [N, 48] by its own batch size.
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "zero"], ["n"], name="batch_of", axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"], name="as_list"),
        helper.make_node("Concat", ["n1", "minus_one"], ["target"], name="target", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"], name="flatten"),
        helper.make_node("Split", ["flat", "halves"], ["left", "right"], name="split", axis=1),
        helper.make_node("HardSwish", ["left"], ["hs"], name="hardswish"),
        helper.make_node("HardSigmoid", ["right"], ["hg"], name="hardsigmoid", alpha=0.25,
                         beta=0.4),
        helper.make_node("Concat", ["hs", "hg"], ["joined"], name="join", axis=1),
        helper.make_node("Slice", ["joined", "s_start", "s_end", "axes1"], ["sliced"],
                         name="slice"),
        helper.make_node("Unsqueeze", ["sliced", "axes1"], ["u"], name="unsqueeze"),
        helper.make_node("Expand", ["u", "expand_to"], ["e"], name="expand"),
        helper.make_node("LayerNormalization", ["e", "ln_scale", "ln_bias"], ["ln"],
                         name="layernorm", axis=-1, epsilon=1e-5),
        # GELU as torch exports it: x * 0.5 * (1 + erf(x / sqrt(2))).
        helper.make_node("Div", ["ln", "sqrt2"], ["g0"], name="gelu_div"),
        helper.make_node("Erf", ["g0"], ["g1"], name="gelu_erf"),
        helper.make_node("Add", ["g1", "one"], ["g2"], name="gelu_add"),
        helper.make_node("Mul", ["ln", "g2"], ["g3"], name="gelu_mul"),
        helper.make_node("Mul", ["g3", "half"], ["gelu"], name="gelu_half"),
        helper.make_node("ReduceSumSquare", ["gelu", "axes2"], ["y1"], name="sumsq",
                         keepdims=0),
        helper.make_node("ReduceMean", ["gelu", "axes1"], ["m"], name="mean", keepdims=1),
        helper.make_node("Squeeze", ["m", "axes1"], ["sq"], name="squeeze"),
        # GELU's tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
        helper.make_node("Pow", ["sq", "three"], ["t0"], name="gelu_tanh_pow"),
        helper.make_node("Mul", ["t0", "coef"], ["t1"], name="gelu_tanh_coef"),
        helper.make_node("Add", ["sq", "t1"], ["t2"], name="gelu_tanh_add"),
        helper.make_node("Mul", ["t2", "sqrt_2_over_pi"], ["t3"], name="gelu_tanh_scale"),
        helper.make_node("Tanh", ["t3"], ["t4"], name="gelu_tanh"),
        helper.make_node("Add", ["t4", "one"], ["t5"], name="gelu_tanh_one"),
        helper.make_node("Mul", ["sq", "t5"], ["t6"], name="gelu_tanh_mul"),
        helper.make_node("Mul", ["t6", "half"], ["gt"], name="gelu_tanh_half"),
        helper.make_node("Pad", ["gt", "pads", "pad_value"], ["padded"], name="pad",
                         mode="constant"),
        helper.make_node("MatMul", ["padded", "w"], ["logits"], name="fc"),
        helper.make_node("Softmax", ["logits"], ["y2"], name="softmax", axis=-1),
        # A GRU over the 6 steps of x (sequence first).
        helper.make_node("Transpose", ["x"], ["seq"], name="to_seq", perm=[1, 0, 2]),
        helper.make_node("Slice", ["x", "h0_start", "h0_end", "h0_axes"], ["h0_rows"],
                         name="h0_slice"),
        helper.make_node("Transpose", ["h0_rows"], ["h0"], name="h0_seq", perm=[1, 0, 2]),
        helper.make_node("GRU", ["seq", "gru_w", "gru_r", "gru_b", "", "h0"], ["", "h"],
                         name="gru", hidden_size=4),
        helper.make_node("Squeeze", ["h", "axes0"], ["y3"], name="last_state"),
        # A batched MatMul whose operands broadcast: [N, 1, 3, 4] x [1, 2, 4, 5] -> [N, 2, 3, 5].
        helper.make_node("Slice", ["x", "q_start", "q_end", "h0_axes"], ["q"], name="q_slice"),
        helper.make_node("Unsqueeze", ["q", "axes1"], ["q1"], name="q_heads"),
        helper.make_node("MatMul", ["q1", "kv"], ["att"], name="broadcast_matmul"),
        helper.make_node("Flatten", ["att"], ["y4"], name="att_rows", axis=1),
    ]
    inits = [
        const_i64("zero", 0), const_i64("axes0", [0]), const_i64("axes1", [1]),
        const_i64("axes2", [2]), const_i64("minus_one", [-1]), const_i64("halves", [24, 24]),
        const_i64("s_start", [4]), const_i64("s_end", [44]), const_i64("expand_to", [1, 3, 1]),
        init("ln_scale", rng.uniform(0.5, 1.5, (40,)).astype(f32)),
        init("ln_bias", rng.normal(0, 0.1, (40,)).astype(f32)),
        init("sqrt2", np.array(np.sqrt(2.0), dtype=f32)), init("one", np.array(1.0, dtype=f32)),
        init("half", np.array(0.5, dtype=f32)), init("three", np.array(3.0, dtype=f32)),
        init("coef", np.array(0.044715, dtype=f32)),
        init("sqrt_2_over_pi", np.array(np.sqrt(2.0 / np.pi), dtype=f32)),
        const_i64("pads", [0, 2, 0, 2]), init("pad_value", np.array(0.25, dtype=f32)),
        init("w", rng.normal(0, 0.4, (44, 5)).astype(f32)),
        init("gru_w", rng.normal(0, 0.4, (1, 12, 8)).astype(f32)),
        init("gru_r", rng.normal(0, 0.4, (1, 12, 4)).astype(f32)),
        init("gru_b", rng.normal(0, 0.1, (1, 24)).astype(f32)),
        const_i64("q_start", [0, 0]), const_i64("q_end", [3, 4]),
        init("kv", rng.normal(0, 0.5, (1, 2, 4, 5)).astype(f32)),
        const_i64("h0_start", [0, 0]), const_i64("h0_end", [1, 4]), const_i64("h0_axes", [1, 2]),
    ]
    graph = helper.make_graph(
        nodes, "idioms",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6, 8])],
        [helper.make_tensor_value_info("y1", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("y2", TensorProto.FLOAT, ["N", 5]),
         helper.make_tensor_value_info("y3", TensorProto.FLOAT, ["N", 4]),
         helper.make_tensor_value_info("y4", TensorProto.FLOAT, ["N", 30])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                              producer_name="edgeserve-examples")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    folder = os.path.join(HERE, "idioms")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    onnx.save(model, path)
    return path


def tensor_json(array):
    return {"dtype": "f32", "shape": list(array.shape), "data": array.reshape(-1).tolist()}


def main():
    path = build()
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    cases = []
    for batch in (1, 3, 5):
        inputs = {"x": rng.normal(0, 1, (batch, 6, 8)).astype(np.float32)}
        outputs = session.run(names, inputs)
        cases.append({
            "batch": batch,
            "inputs": {k: tensor_json(v) for k, v in inputs.items()},
            "outputs": {k: tensor_json(v) for k, v in zip(names, outputs)},
        })
    ref = {"producer": f"onnxruntime {ort.__version__}", "cases": cases}
    with open(os.path.join(os.path.dirname(path), "reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    print("wrote", path, "and its reference.json")


if __name__ == "__main__":
    main()
