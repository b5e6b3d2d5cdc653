#!/usr/bin/env python3
"""Builds edgeserve's bundled example models and their onnxruntime reference outputs.

Run from anywhere: `python3 models/make_examples.py`. Writes models/NAME/model.onnx and
models/NAME/reference.json. Reference outputs come from onnxruntime, never from edgeserve.
Pinned tools: see models/requirements.txt.
"""
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OPSET = 17
IR_VERSION = 8
BATCHES = (1, 5, 7)
rng = np.random.default_rng(20261124)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def save(name, graph, opsets=None):
    opsets = opsets or [helper.make_opsetid("", OPSET)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="edgeserve-examples")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    onnx.save(model, path)
    return path


def mlp():
    w1 = rng.normal(0, 0.5, (4, 16)).astype(np.float32)
    b1 = rng.normal(0, 0.1, (16,)).astype(np.float32)
    w2 = rng.normal(0, 0.5, (16, 3)).astype(np.float32)
    b2 = rng.normal(0, 0.1, (3,)).astype(np.float32)
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["hr"], name="relu1"),
        helper.make_node("Gemm", ["hr", "w2", "b2"], ["logits"], name="fc2"),
        helper.make_node("Softmax", ["logits"], ["y"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [init("w1", w1), init("b1", b1), init("w2", w2), init("b2", b2)],
    )
    return save("mlp", graph), lambda n: {"x": rng.normal(0, 1, (n, 4)).astype(np.float32)}


def cnn():
    c1 = rng.normal(0, 0.4, (4, 1, 3, 3)).astype(np.float32)
    c1b = rng.normal(0, 0.1, (4,)).astype(np.float32)
    scale = rng.uniform(0.5, 1.5, (4,)).astype(np.float32)
    bias = rng.normal(0, 0.1, (4,)).astype(np.float32)
    mean = rng.normal(0, 0.1, (4,)).astype(np.float32)
    var = rng.uniform(0.5, 1.5, (4,)).astype(np.float32)
    c2 = rng.normal(0, 0.3, (8, 4, 3, 3)).astype(np.float32)
    c2b = rng.normal(0, 0.1, (8,)).astype(np.float32)
    fw = rng.normal(0, 0.5, (8, 5)).astype(np.float32)
    fb = rng.normal(0, 0.1, (5,)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "c1", "c1b"], ["a1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["a1", "bn_s", "bn_b", "bn_m", "bn_v"], ["a2"],
                         name="bn1", epsilon=1e-5),
        helper.make_node("Relu", ["a2"], ["a3"], name="relu1"),
        helper.make_node("MaxPool", ["a3"], ["a4"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["a4", "c2", "c2b"], ["a5"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a5"], ["a6"], name="relu2"),
        helper.make_node("GlobalAveragePool", ["a6"], ["a7"], name="gap"),
        helper.make_node("Flatten", ["a7"], ["a8"], name="flatten", axis=1),
        helper.make_node("Gemm", ["a8", "fw", "fb"], ["y"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes, "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        [init("c1", c1), init("c1b", c1b), init("bn_s", scale), init("bn_b", bias),
         init("bn_m", mean), init("bn_v", var), init("c2", c2), init("c2b", c2b),
         init("fw", fw), init("fb", fb)],
    )
    return save("cnn", graph), lambda n: {"x": rng.normal(0, 1, (n, 1, 8, 8)).astype(np.float32)}


def two_inputs():
    """Several inputs and outputs, and integer tensors: exercises `inputs` / `outputs`."""
    nodes = [
        helper.make_node("Cast", ["b"], ["bf"], name="cast_b", to=TensorProto.FLOAT),
        helper.make_node("Add", ["a", "bf"], ["sum"], name="add"),
        helper.make_node("Mul", ["b", "two"], ["b_doubled"], name="double_b"),
    ]
    graph = helper.make_graph(
        nodes, "two_inputs",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("b", TensorProto.INT64, ["N", 3])],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("b_doubled", TensorProto.INT64, ["N", 3])],
        [init("two", np.array(2, dtype=np.int64))],
    )
    return save("two_inputs", graph), lambda n: {
        "a": rng.normal(0, 1, (n, 3)).astype(np.float32),
        "b": rng.integers(-50, 50, (n, 3)).astype(np.int64),
    }


def sklearn_forest():
    """A scikit-learn RandomForest converted by skl2onnx: ONNX-ML TreeEnsembleClassifier."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from skl2onnx import to_onnx

    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    clf = RandomForestClassifier(n_estimators=8, max_depth=4, random_state=7).fit(x, y)
    onx = to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}},
                  target_opset={"": OPSET, "ai.onnx.ml": 3})
    # Name the batch dimension like the other examples.
    for vi in list(onx.graph.input) + list(onx.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if len(dims) > 0:
            dims[0].dim_param = "N"
    onx.ir_version = IR_VERSION
    folder = os.path.join(HERE, "iris_forest")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    onnx.save(onx, path)
    lo, hi = x.min(axis=0), x.max(axis=0)
    return path, lambda n: {"X": rng.uniform(lo, hi, (n, 4)).astype(np.float32)}


def heavy():
    """Much compute for a small input (48 layers of 256x256): keeps a worker busy in tests."""
    w0 = rng.normal(0, 0.5, (4, 256)).astype(np.float32)
    w = (rng.normal(0, 1.0, (256, 256)) / 16.0).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w0"], ["h0"], name="in")]
    for i in range(48):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "w"], [f"m{i}"], name=f"mm{i}"))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"h{i + 1}"], name=f"tanh{i}"))
    nodes.append(helper.make_node("ReduceMean", ["h48"], ["y"], name="mean", axes=[1], keepdims=1))
    graph = helper.make_graph(
        nodes, "heavy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        [init("w0", w0), init("w", w)],
    )
    return save("heavy", graph), lambda n: {"x": rng.normal(0, 1, (n, 4)).astype(np.float32)}


def ops_tour():
    """One of each op the GPU target lowers that the other examples lack: grouped, strided and
    dilated convolutions, LeakyRelu, Sigmoid, Concat, padded AveragePool and MaxPool, Clip,
    broadcasting Sub and Div (by constants the loader folds), Transpose, Reshape, Identity,
    Gather from a constant table and with constant indices."""
    wa = rng.normal(0, 0.4, (4, 1, 3, 3)).astype(np.float32)
    ba = rng.normal(0, 0.1, (4,)).astype(np.float32)
    wb = rng.normal(0, 0.3, (4, 2, 3, 3)).astype(np.float32)
    m1 = rng.normal(0, 0.1, (1, 8, 1, 1)).astype(np.float32)
    m2 = rng.normal(0, 0.1, (1, 8, 1, 1)).astype(np.float32)
    sd = rng.uniform(0.5, 1.5, (8, 1, 1)).astype(np.float32)
    fw = rng.normal(0, 0.2, (200, 6)).astype(np.float32)
    table = rng.normal(0, 1, (10, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "wa", "ba"], ["a"], name="conv_grouped", group=2,
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["x", "wb"], ["b"], name="conv_dilated", dilations=[2, 2],
                         strides=[2, 2], pads=[2, 2, 2, 2]),
        helper.make_node("LeakyRelu", ["a"], ["a1"], name="leaky", alpha=0.1),
        helper.make_node("Sigmoid", ["b"], ["b1"], name="sigmoid"),
        helper.make_node("Concat", ["a1", "b1"], ["c"], name="concat", axis=1),
        helper.make_node("AveragePool", ["c"], ["d"], name="avgpool", kernel_shape=[2, 2],
                         pads=[0, 0, 1, 1], count_include_pad=0),
        helper.make_node("Clip", ["d", "lo", "hi"], ["e"], name="clip"),
        helper.make_node("Add", ["m1", "m2"], ["mean"], name="mean_folded"),
        helper.make_node("Sub", ["e", "mean"], ["f"], name="center"),
        helper.make_node("Div", ["f", "sd"], ["g"], name="scale"),
        helper.make_node("Transpose", ["g"], ["t"], name="to_nhwc", perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["t", "flat_shape"], ["r"], name="flatten_rows"),
        helper.make_node("Identity", ["r"], ["i"], name="identity"),
        helper.make_node("MatMul", ["i", "fw"], ["h"], name="fc"),
        helper.make_node("Tanh", ["h"], ["y"], name="tanh"),
        helper.make_node("Gather", ["h", "cols"], ["picked"], name="pick_columns", axis=1),
        helper.make_node("Softmax", ["picked"], ["p"], name="softmax", axis=-1),
        helper.make_node("Gather", ["table", "ids"], ["emb"], name="embed", axis=0),
        helper.make_node("MaxPool", ["c"], ["mp"], name="maxpool", kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["mp"], ["gp"], name="gap"),
        helper.make_node("Flatten", ["gp"], ["pooled"], name="flatten", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "ops_tour",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 9, 9]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 6]),
         helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("emb", TensorProto.FLOAT, ["N", 2, 3]),
         helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["N", 8])],
        [init("wa", wa), init("ba", ba), init("wb", wb), init("m1", m1), init("m2", m2),
         init("sd", sd), init("fw", fw), init("table", table),
         init("lo", np.array(-0.5, dtype=np.float32)), init("hi", np.array(0.8, dtype=np.float32)),
         init("flat_shape", np.array([0, -1], dtype=np.int64)),
         init("cols", np.array([5, 0, 2], dtype=np.int64))],
    )
    return save("ops_tour", graph), lambda n: {
        "x": rng.normal(0, 1, (n, 2, 9, 9)).astype(np.float32),
        "ids": rng.integers(0, 10, (n, 2)).astype(np.int64),
    }


def unsupported():
    """An op no backend implements, at a node named like a real one: load must name both."""
    nodes = [helper.make_node("Frobnicate", ["x"], ["y"], name="attn/3", domain="com.example")]
    graph = helper.make_graph(
        nodes, "unsupported",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("com.example", 1)])
    model.ir_version = IR_VERSION
    folder = os.path.join(HERE, "unsupported")
    os.makedirs(folder, exist_ok=True)
    onnx.save(model, os.path.join(folder, "model.onnx"))


def cannot_run():
    """Loads, but cannot run at batch 1: it takes row 5 of x [N, 4], which exists only from a
    batch of 6 on. The deployment's test inference at load (zeros at batch 1, then at the
    largest batch) must refuse it (SPEC §2) instead of serving only errors."""
    nodes = [helper.make_node("Gather", ["x", "row"], ["y"], axis=0, name="pick_row")]
    graph = helper.make_graph(
        nodes, "cannot_run",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        [init("row", np.array(5, dtype=np.int64))],
    )
    save_plain("cannot_run", graph)


def save_plain(name, graph):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="edgeserve-examples")
    model.ir_version = IR_VERSION
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    onnx.save(model, os.path.join(folder, "model.onnx"))


def tensor_json(array):
    dtype = {"float32": "f32", "float64": "f64", "int64": "i64", "int32": "i32",
             "uint8": "u8", "bool": "bool"}[array.dtype.name]
    return {"dtype": dtype, "shape": list(array.shape), "data": array.reshape(-1).tolist()}


def write_reference(path, make_inputs):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    cases = []
    for batch in BATCHES:
        inputs = make_inputs(batch)
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


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["cannot_run"]:
        cannot_run()
        sys.exit(0)
    for build in (mlp, cnn, two_inputs, sklearn_forest, heavy, ops_tour):
        write_reference(*build())
    unsupported()
    cannot_run()
    print("example models and onnxruntime references written under", HERE)
