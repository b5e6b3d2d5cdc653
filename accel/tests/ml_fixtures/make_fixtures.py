"""Writes tiny one-op ai.onnx.ml models and their onnxruntime references into NAME/ folders.

Covers the ONNX-ML ops and attribute variants no exporter model in models/exporters uses, so that
accel's ops (accel/src/cpu/ml) are checked against onnxruntime for them too. Each NAME/ holds
model.onnx and reference.json in the models/exporters format: {"op", "note", "cases": [{"batch",
"inputs", "outputs"}]} with tensors {dtype, shape, data}; dtypes f32, f64, i64, str; a NaN in
`data` is written as null. Deterministic (fixed seeds, fixed data); rerun with
/root/venv-exporters/bin/python accel/tests/ml_fixtures/make_fixtures.py (onnx 1.23,
onnxruntime 1.32, scikit-learn + skl2onnx for the SVM coefficients).
"""

import json
import warnings
import math
import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
BATCHES = (1, 4, 10)
NAN = float("nan")


def model(name, node, inputs, outputs, ml_opset):
    """A one-node graph; inputs/outputs are (name, elem_type, shape with None as batch)."""
    graph = helper.make_graph(
        [node], name,
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])
    m = helper.make_model(graph, producer_name="make_fixtures.py", ir_version=10, opset_imports=[
        helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", ml_opset)])
    onnx.checker.check_model(m)
    return m


def tensor_json(a):
    a = np.asarray(a)
    if a.dtype.kind in ("U", "S", "O"):
        return {"dtype": "str", "shape": list(a.shape), "data": [str(x) for x in a.reshape(-1)]}
    dtype = {"float32": "f32", "float64": "f64", "int64": "i64"}[a.dtype.name]
    data = a.reshape(-1).tolist()
    if a.dtype.kind == "f":
        data = [None if math.isnan(x) else x for x in data]
    return {"dtype": dtype, "shape": list(a.shape), "data": data}


def write(name, m, make_inputs, note):
    """Saves the model and runs onnxruntime at every batch of BATCHES on make_inputs(batch)."""
    d = os.path.join(HERE, name)
    os.makedirs(d, exist_ok=True)
    onnx.save(m, os.path.join(d, "model.onnx"))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    cases = []
    for batch in BATCHES:
        feeds = make_inputs(batch)
        outs = sess.run(out_names, feeds)
        cases.append({"batch": batch,
                      "inputs": {k: tensor_json(v) for k, v in feeds.items()},
                      "outputs": {k: tensor_json(v) for k, v in zip(out_names, outs)}})
    ref = {"producer": f"onnxruntime {ort.__version__}", "op": m.graph.node[0].op_type,
           "note": note, "cases": cases}
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
        f.write("\n")
    print(f"{name}: {os.path.getsize(os.path.join(d, 'model.onnx'))} B model")


def rows(batch, table):
    """The first `batch` rows of `table`, cycling."""
    return np.array([table[i % len(table)] for i in range(batch)])


# ---------------------------------------------------------------------------------------------
# TreeEnsemble (ai.onnx.ml 5)
# ---------------------------------------------------------------------------------------------

def tree_ensemble(name, dtype, n_features, n_targets, nodes, leaves, roots, membership,
                  aggregate, post, table, note):
    """nodes: (feature, mode, split, true_id, true_is_leaf, false_id, false_is_leaf, missing)."""
    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    cols = list(zip(*nodes))
    attrs = dict(
        nodes_featureids=list(cols[0]),
        nodes_modes=helper.make_tensor("nodes_modes", TensorProto.UINT8, [len(nodes)], cols[1]),
        nodes_splits=helper.make_tensor("nodes_splits", elem, [len(nodes)], cols[2]),
        nodes_truenodeids=list(cols[3]), nodes_trueleafs=list(cols[4]),
        nodes_falsenodeids=list(cols[5]), nodes_falseleafs=list(cols[6]),
        nodes_missing_value_tracks_true=list(cols[7]),
        leaf_targetids=[t for t, _ in leaves],
        leaf_weights=helper.make_tensor("leaf_weights", elem, [len(leaves)],
                                        [w for _, w in leaves]),
        tree_roots=roots, n_targets=n_targets, aggregate_function=aggregate,
        post_transform=post)
    if membership:
        attrs["membership_values"] = helper.make_tensor("membership_values", elem,
                                                        [len(membership)], membership)
    node = helper.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
    m = model(name, node, [("X", elem, [None, n_features])], [("Y", elem, [None, n_targets])], 5)
    write(name, m, lambda b: {"X": rows(b, table).astype(dtype)}, note)


def tree_ensembles():
    LEQ, LT, GTE, GT, EQ, NEQ, MEMBER = range(7)
    # Tree 0: x0 in {1, 4, 7} ? (x1 >= 0.25, NaN true ? leaf 1 : leaf 2) : leaf 0.
    # Tree 1: x2 <= -0.5 ? leaf 3 : (x0 in {0, 2, 40} (a "big set") ? leaf 4 : leaf 5).
    # Tree 2: a single leaf (6).
    tree_ensemble(
        "tree_ensemble_member", np.float32, 3, 1,
        nodes=[(0, MEMBER, 0.0, 1, 0, 0, 1, 0),
               (1, GTE, 0.25, 1, 1, 2, 1, 1),
               (2, LEQ, -0.5, 3, 1, 3, 0, 0),
               (0, MEMBER, 0.0, 4, 1, 5, 1, 0),
               (0, LEQ, 0.0, 6, 1, 6, 1, 0)],
        leaves=[(0, 0.5), (0, 1.25), (0, -2.0), (0, 3.0), (0, -0.75), (0, 0.125), (0, 10.0)],
        roots=[0, 2, 4], membership=[1, 4, 7, NAN, 0, 2, 40, NAN], aggregate=1, post=0,
        table=[[1, 0.5, 0.0], [4, NAN, -1.0], [7, 0.0, NAN], [2, 0.25, 0.5], [40, 1, -0.5],
               [3, 0.3, 2.0], [0, -1, 0.0], [6, 0.2, -3], [1.5, 1, 1], [2.5, 0, 0]],
        note="SUM, one target; BRANCH_MEMBER (a small set and one with a member > 30), "
             "BRANCH_GTE with missing_value_tracks_true, BRANCH_LEQ, a single-leaf tree, NaNs")
    # Two targets, AVERAGE over 3 trees; LT, LEQ, GT, NEQ, EQ; post_transform 2 (SOFTMAX in ORT).
    tree_ensemble(
        "tree_ensemble_avg2", np.float32, 2, 2,
        nodes=[(0, LT, 0.0, 0, 1, 1, 0, 0),
               (1, LEQ, 0.5, 1, 1, 2, 1, 0),
               (1, GT, 1.0, 3, 1, 4, 1, 0),
               (0, NEQ, 0.0, 5, 1, 4, 0, 0),
               (1, EQ, 2.0, 6, 1, 7, 1, 0)],
        leaves=[(0, 1.5), (1, -2.0), (0, 0.75), (1, 3.0), (1, 0.5), (0, 2.0), (1, 1.0),
                (0, -4.0)],
        roots=[0, 2, 3], membership=[], aggregate=0, post=2,
        table=[[-1, 0], [0, 0.5], [0.5, 2], [1, 1.5], [0, 2], [-0.25, 3], [2, 0.25]],
        note="AVERAGE, two targets; BRANCH_LT/LEQ/GT/NEQ/EQ; post_transform 2, which the "
             "spec calls LOGISTIC and onnxruntime applies as SOFTMAX")
    # Double input, three targets, MAX, post_transform 1 (LOGISTIC in onnxruntime).
    tree_ensemble(
        "tree_ensemble_f64_max", np.float64, 2, 3,
        nodes=[(0, LEQ, 0.1, 0, 1, 1, 1, 0),
               (1, GT, -0.3, 2, 1, 3, 1, 0),
               (0, MEMBER, 0.0, 4, 1, 5, 1, 1)],
        leaves=[(0, 0.25), (1, 1.5), (2, -1.0), (0, 2.0), (1, 0.75), (2, 0.5)],
        roots=[0, 1, 2], membership=[3, 5, NAN], aggregate=3, post=1,
        table=[[0, 0], [3, -1], [5, 1], [NAN, 0.2], [0.1, -0.3], [4, 2]],
        note="double input and output, MAX, three targets; post_transform 1, which the spec "
             "calls SOFTMAX and onnxruntime applies as LOGISTIC")


# ---------------------------------------------------------------------------------------------
# Simple ops
# ---------------------------------------------------------------------------------------------

GRID = [[0.5, -1.0, 2.0, 0.0], [1.5, 0.25, -0.5, 3.0], [NAN, 0.75, 0.5, -2.0],
        [0.0, NAN, 1.0, 0.5], [-3.0, 2.5, NAN, 1.25]]


def simple_ops():
    f, i64, s = TensorProto.FLOAT, TensorProto.INT64, TensorProto.STRING
    node = helper.make_node("Binarizer", ["X"], ["Y"], domain="ai.onnx.ml", threshold=0.5)
    write("binarizer", model("binarizer", node, [("X", f, [None, 4])], [("Y", f, [None, 4])], 1),
          lambda b: {"X": rows(b, GRID[:2] + [[0.5, 0.6, -0.4, 0.49]]).astype(np.float32)}, "threshold 0.5 (onnxruntime refuses NaN inputs)")

    node = helper.make_node("Imputer", ["X"], ["Y"], domain="ai.onnx.ml",
                            imputed_value_floats=[9.0, 8.0, 7.0, 6.0], replaced_value_float=NAN)
    write("imputer", model("imputer", node, [("X", f, [None, 4])], [("Y", f, [None, 4])], 1),
          lambda b: {"X": rows(b, GRID).astype(np.float32)}, "NaN replaced per column")

    node = helper.make_node("FeatureVectorizer", ["A", "B"], ["Y"], domain="ai.onnx.ml",
                            inputdimensions=[2, 3])
    write("feature_vectorizer",
          model("feature_vectorizer", node, [("A", f, [None, 2]), ("B", f, [None, 3])],
                [("Y", f, [None, 5])], 1),
          lambda b: {"A": rows(b, [[0.5, 1.5], [-1, 2], [3, 0.25]]).astype(np.float32),
                     "B": rows(b, [[1, 2, 3], [-4, 5, 6], [7, 0, -9]]).astype(np.float32)},
          "two inputs, [N, 2] and [N, 3] (onnxruntime wants one type for all)")

    node = helper.make_node("Scaler", ["X"], ["Y"], domain="ai.onnx.ml",
                            offset=[0.5, -1.0, 2.0, 0.0], scale=[2.0, 0.5, -1.0, 3.0])
    write("scaler", model("scaler", node, [("X", f, [None, 4])], [("Y", f, [None, 4])], 1),
          lambda b: {"X": rows(b, GRID[:2] + [[1, 2, 3, 4]]).astype(np.float32)},
          "per-feature offset and scale")

    node = helper.make_node("OneHotEncoder", ["X"], ["Y"], domain="ai.onnx.ml",
                            cats_int64s=[1, 3, 5], zeros=1)
    write("one_hot_encoder_int",
          model("one_hot_encoder_int", node, [("X", i64, [None, 2])], [("Y", f, [None, 2, 3])],
                1),
          lambda b: {"X": rows(b, [[1, 5], [3, 4], [0, 1], [5, 3]]).astype(np.int64)},
          "int64 categories, an unknown value gives a zero row")

    words = ["cat", "dog", "bird", "fish", "cow"]
    node = helper.make_node("LabelEncoder", ["X"], ["Y"], domain="ai.onnx.ml",
                            classes_strings=["bird", "cat", "dog"], default_int64=-7)
    write("label_encoder_v1",
          model("label_encoder_v1", node, [("X", s, [None])], [("Y", i64, [None])], 1),
          lambda b: {"X": np.array([words[i % 5] for i in range(b)], dtype=object)},
          "opset 1: string -> its index in classes_strings, default_int64 -7")

    node = helper.make_node("LabelEncoder", ["X"], ["Y"], domain="ai.onnx.ml",
                            keys_int64s=[3, 1, 10], values_strings=["three", "one", "ten"],
                            default_string="none")
    write("label_encoder_v2",
          model("label_encoder_v2", node, [("X", i64, [None])], [("Y", s, [None])], 2),
          lambda b: {"X": np.array([[10, 2, 1, 3][i % 4] for i in range(b)], dtype=np.int64)},
          "opset 2: int64 -> string, default_string")

    node = helper.make_node("LabelEncoder", ["X"], ["Y"], domain="ai.onnx.ml",
                            keys_strings=["dog", "cat", "cow"], values_floats=[0.5, -1.25, 3.0],
                            default_float=42.0)
    write("label_encoder_v3",
          model("label_encoder_v3", node, [("X", s, [None])], [("Y", f, [None])], 3),
          lambda b: {"X": np.array([words[(i + 1) % 5] for i in range(b)], dtype=object)},
          "opset 3: string -> float, default_float")

    d = TensorProto.DOUBLE
    node = helper.make_node(
        "LabelEncoder", ["X"], ["Y"], domain="ai.onnx.ml",
        keys_tensor=helper.make_tensor("keys", d, [3], [0.5, NAN, -2.0]),
        values_tensor=helper.make_tensor("values", s, [3], [b"half", b"nan", b"minus two"]),
        default_tensor=helper.make_tensor("default", s, [1], [b"other"]))
    write("label_encoder_v4_double",
          model("label_encoder_v4_double", node, [("X", d, [None])], [("Y", s, [None])], 4),
          lambda b: {"X": np.array([[0.5, NAN, 1.0, -2.0][i % 4] for i in range(b)])},
          "opset 4: double keys_tensor (with NaN) -> string values_tensor, default_tensor")

    node = helper.make_node(
        "LabelEncoder", ["X"], ["Y"], domain="ai.onnx.ml",
        keys_tensor=helper.make_tensor("keys", s, [2], [b"cat", b"cow"]),
        values_tensor=helper.make_tensor("values", d, [2], [0.25, 1e-300]))
    write("label_encoder_v4_str_double",
          model("label_encoder_v4_str_double", node, [("X", s, [None])], [("Y", d, [None])], 4),
          lambda b: {"X": np.array([words[(i + 2) % 5] for i in range(b)], dtype=object)},
          "opset 4: string keys_tensor -> double values_tensor, default -0.0")

    node = helper.make_node(
        "LabelEncoder", ["X"], ["Y"], domain="ai.onnx.ml",
        keys_tensor=helper.make_tensor("keys", TensorProto.INT64, [3], [7, -1, 7]),
        values_floats=[0.5, 1.5, 9.0], default_float=3.0)
    write("label_encoder_v4_mixed",
          model("label_encoder_v4_mixed", node, [("X", i64, [None])], [("Y", f, [None])], 4),
          lambda b: {"X": np.array([[7, -1, 0][i % 3] for i in range(b)], dtype=np.int64)},
          "opset 4: int64 keys_tensor (7 repeated: the first value wins) -> values_floats")


# ---------------------------------------------------------------------------------------------
# SVMs: coefficients from scikit-learn via skl2onnx, re-wrapped as one-node graphs
# ---------------------------------------------------------------------------------------------

def svm_node(estimator, op, n_features):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    opts = {id(estimator): {"zipmap": False}} if op == "SVMClassifier" else None
    m = to_onnx(estimator, initial_types=[("X", FloatTensorType([None, n_features]))],
                options=opts, target_opset={"": 21, "ai.onnx.ml": 1})
    (node,) = [n for n in m.graph.node if n.op_type == op]
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def svms():
    from sklearn.svm import SVC, SVR
    warnings.filterwarnings("ignore", category=FutureWarning)
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(0, 1, (15, 3)) * 8) / 8
    y3 = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5).astype(int)
    y2 = (X[:, 0] - X[:, 2] > 0).astype(int)
    test = (np.round(rng.normal(0, 1, (4, 3)) * 8) / 8).astype(np.float32)
    f, i64, s = TensorProto.FLOAT, TensorProto.INT64, TensorProto.STRING

    def clf(name, est, y, strings, note):
        attrs = svm_node(est.fit(X, y), "SVMClassifier", 3)
        labels = attrs.pop("classlabels_ints")
        if strings:
            attrs["classlabels_strings"] = [f"c{label}" for label in labels]
        else:
            attrs["classlabels_ints"] = labels
        node = helper.make_node("SVMClassifier", ["X"], ["label", "scores"],
                                domain="ai.onnx.ml", **attrs)
        m = model(name, node, [("X", f, [None, 3])],
                  [("label", s if strings else i64, [None]), ("scores", f, [None, None])], 1)
        write(name, m, lambda b: {"X": rows(b, test)}, note)

    clf("svm_clf_linear", SVC(kernel="linear", C=0.7), y3, False,
        "LINEAR kernel, 3 classes, no probabilities (pair decision values)")
    clf("svm_clf_linear_prob", SVC(kernel="linear", probability=True, random_state=0), y2, False,
        "LINEAR kernel, 2 classes, probabilities")
    clf("svm_clf_poly", SVC(kernel="poly", degree=2, coef0=0.5, gamma=0.4), y2, True,
        "POLY kernel, 2 classes, string labels, no probabilities")
    clf("svm_clf_poly_prob",
        SVC(kernel="poly", degree=3, coef0=1.0, gamma=0.3, probability=True, random_state=0),
        y3, False, "POLY kernel, 3 classes, probabilities")

    attrs = svm_node(SVR(kernel="sigmoid", gamma=0.2, coef0=0.1, C=2.0).fit(X, X @ [1, -2, 0.5]),
                     "SVMRegressor", 3)
    node = helper.make_node("SVMRegressor", ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
    m = model("svm_reg_sigmoid", node, [("X", f, [None, 3])], [("Y", f, [None, 1])], 1)
    write("svm_reg_sigmoid", m, lambda b: {"X": rows(b, test)}, "SIGMOID kernel")


if __name__ == "__main__":
    tree_ensembles()
    simple_ops()
    svms()
