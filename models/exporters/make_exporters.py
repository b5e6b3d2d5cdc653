"""Builds the exporter model set: models written by the real exporters with their DEFAULT settings.

skl2onnx (scikit-learn), onnxmltools (LightGBM, XGBoost) and torch.onnx.export (torch,
torchvision) each convert small, deterministically trained (or randomly initialised) models the
way a data scientist would, without tweaking the export. Each model goes to
models/exporters/NAME/ as model.onnx (plus model.onnx.data when the exporter writes external
data) and reference.json: onnxruntime's outputs at batch 1, 3 and 5, in the format of
models/make_examples.py, with a description of the export (exporter, versions, ops, signature).

Run: `python3 models/exporters/make_exporters.py [NAME ...]` (tools pinned in requirements.txt
beside this file; CI never runs it). `--full-resnet18` writes the stock torchvision resnet18
(45 MB) instead of the narrow one.

reference.json, beyond make_examples.py's format (producer, cases[batch, inputs, outputs] with
{dtype, shape, data} tensors):
- dtypes "str" (string tensors, data are JSON strings) and "f16" (data are the exact values);
- a ZipMap output (ONNX type seq(map(K, float))) is {"dtype": "zipmap", "key_dtype": "i64" or
  "str", "value_dtype": "f32", "shape": [batch], "data": [{"label": probability, ...} per row]},
  label keys written as strings, values as onnxruntime returns them.
- top-level: family, exporter, exporter_version, library, library_version, export_call, notes,
  opset_import, ir_version, files, signature (dims: int, "name" for dim_param, null when unset),
  ops ([domain, op_type] pairs) and ml_ops (attributes of every ai.onnx.ml op type used).
"""
import argparse
import json
import os
import shutil
import sys
import warnings
import zlib

# skl2onnx writes opset_import in set order: a fixed hash seed keeps the files reproducible.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable] + sys.argv)

# One thread everywhere: reproducible training (BLAS reductions) and gentle on a shared machine.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BATCHES = (1, 3, 5)
ML = "ai.onnx.ml"

warnings.filterwarnings("ignore")


def rng_for(name):
    """One generator per model, so that adding a model never changes the others."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def version(module_name):
    from importlib.metadata import version as v
    return v(module_name)


# ---------------------------------------------------------------------------------------------
# Description of a written model
# ---------------------------------------------------------------------------------------------

ELEM = {
    onnx.TensorProto.FLOAT: "f32", onnx.TensorProto.DOUBLE: "f64", onnx.TensorProto.INT64: "i64",
    onnx.TensorProto.INT32: "i32", onnx.TensorProto.UINT8: "u8", onnx.TensorProto.BOOL: "bool",
    onnx.TensorProto.STRING: "str", onnx.TensorProto.FLOAT16: "f16",
}


def dims_of(tensor_type):
    if not tensor_type.HasField("shape"):
        return None
    out = []
    for d in tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(d.dim_value)
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def type_of(tp):
    """The value-info type as {dtype, shape} (tensors) or an ONNX-style type string."""
    kind = tp.WhichOneof("value")
    if kind == "tensor_type":
        return {"dtype": ELEM.get(tp.tensor_type.elem_type, str(tp.tensor_type.elem_type)),
                "shape": dims_of(tp.tensor_type)}
    if kind == "sequence_type":
        inner = type_of(tp.sequence_type.elem_type)
        return {"dtype": f"seq({inner['dtype']})", "shape": None}
    if kind == "map_type":
        key = ELEM.get(tp.map_type.key_type, str(tp.map_type.key_type))
        val = type_of(tp.map_type.value_type)
        return {"dtype": f"map({key},{val['dtype']})", "shape": None}
    return {"dtype": kind, "shape": None}


def signature(model):
    inits = {i.name for i in model.graph.initializer}
    ins = [dict(name=v.name, **type_of(v.type)) for v in model.graph.input if v.name not in inits]
    outs = [dict(name=v.name, **type_of(v.type)) for v in model.graph.output]
    return {"inputs": ins, "outputs": outs}


def all_nodes(graph):
    for n in graph.node:
        yield n
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from all_nodes(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for g in a.graphs:
                    yield from all_nodes(g)


def attr_summary(nodes):
    """Per attribute, the distinct values across `nodes` (lists: distinct elements, or a count)."""
    out = {}
    for n in nodes:
        for a in n.attribute:
            if a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                continue
            if a.type == onnx.AttributeProto.TENSOR:
                t = onnx.numpy_helper.to_array(a.t)
                out.setdefault(a.name, set()).add(f"tensor {t.dtype} {list(t.shape)}")
                continue
            v = onnx.helper.get_attribute_value(a)
            if isinstance(v, bytes):
                v = v.decode()
            if isinstance(v, list):
                v = [x.decode() if isinstance(x, bytes) else x for x in v]
                s = out.setdefault(a.name, set())
                s.add(("list", len(v), tuple(sorted(set(v), key=str)) if len(set(v)) <= 12 else None))
            else:
                out.setdefault(a.name, set()).add(v)
    result = {}
    for k, vals in sorted(out.items()):
        lists = [v for v in vals if isinstance(v, tuple) and v and v[0] == "list"]
        scalars = sorted((v for v in vals if not (isinstance(v, tuple) and v and v[0] == "list")), key=str)
        if lists:
            distinct = set()
            many = False
            for _, _, d in lists:
                if d is None:
                    many = True
                else:
                    distinct.update(d)
            lengths = sorted({n for _, n, _ in lists})
            entry = {"list_lengths": lengths}
            if many or len(distinct) > 12:
                entry["distinct"] = "many"
            else:
                entry["distinct"] = sorted(distinct, key=str)
            result[k] = entry
        else:
            result[k] = scalars[0] if len(scalars) == 1 else scalars
    return result


def describe(model):
    nodes = list(all_nodes(model.graph))
    ops = sorted({(n.domain or "", n.op_type) for n in nodes})
    ml_ops = {}
    for _, op in [o for o in ops if o[0] == ML]:
        of_type = [n for n in nodes if n.domain == ML and n.op_type == op]
        ml_ops[op] = {"count": len(of_type), "attributes": attr_summary(of_type)}
    return ops, ml_ops


def std_attr_summary(model):
    nodes = list(all_nodes(model.graph))
    out = {}
    for dom, op in sorted({(n.domain or "", n.op_type) for n in nodes}):
        of_type = [n for n in nodes if (n.domain or "") == dom and n.op_type == op]
        out[(dom, op)] = attr_summary(of_type)
    return out


# ---------------------------------------------------------------------------------------------
# Reference outputs
# ---------------------------------------------------------------------------------------------

def tensor_json(value, vi_type=None):
    if isinstance(value, list):  # ZipMap: list of dicts per row
        key_dtype = "i64"
        if value and value[0]:
            key_dtype = "str" if isinstance(next(iter(value[0])), str) else "i64"
        return {"dtype": "zipmap", "key_dtype": key_dtype, "value_dtype": "f32",
                "shape": [len(value)],
                "data": [{str(k): float(p) for k, p in row.items()} for row in value]}
    array = np.asarray(value)
    if array.dtype.kind in ("U", "S", "O"):
        return {"dtype": "str", "shape": list(array.shape),
                "data": [str(x) for x in array.reshape(-1).tolist()]}
    dtype = {"float32": "f32", "float64": "f64", "int64": "i64", "int32": "i32", "uint8": "u8",
             "bool": "bool", "float16": "f16"}[array.dtype.name]
    return {"dtype": dtype, "shape": list(array.shape), "data": array.reshape(-1).tolist()}


def dump_json(obj, path):
    """indent=1 like make_examples.py, but each `data` array on one line (keeps files small)."""
    blobs = []

    def lift(o):
        if isinstance(o, dict):
            out = {}
            for k, v in o.items():
                if k == "data" and isinstance(v, list):
                    blobs.append(json.dumps(v, separators=(",", ":")))
                    out[k] = f"@@DATA{len(blobs) - 1}@@"
                else:
                    out[k] = lift(v)
            return out
        if isinstance(o, list):
            return [lift(x) for x in o]
        return o

    text = json.dumps(lift(obj), indent=1)
    for i, b in enumerate(blobs):
        text = text.replace(f'"@@DATA{i}@@"', b, 1)
    json.loads(text)  # still valid JSON
    with open(path, "w") as f:
        f.write(text + "\n")


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def finish(name, meta, make_inputs):
    """Checks the written model, runs onnxruntime and writes reference.json."""
    folder = os.path.join(HERE, name)
    path = os.path.join(folder, "model.onnx")
    onnx.checker.check_model(path)  # by path: also checks external data
    model = onnx.load(path, load_external_data=False)
    ops, ml_ops = describe(model)
    sig = signature(model)
    sess = session(path)
    out_names = [o.name for o in sess.get_outputs()]
    cases = []
    for batch in BATCHES:
        inputs = make_inputs(batch)
        outputs = sess.run(out_names, inputs)
        cases.append({
            "batch": batch,
            "inputs": {k: tensor_json(v) for k, v in inputs.items()},
            "outputs": {k: tensor_json(v) for k, v in zip(out_names, outputs)},
        })
    notes = list(meta.pop("notes", []))
    declared = {vi["name"]: vi["shape"] for vi in sig["inputs"] + sig["outputs"]}
    for case in cases:
        for k, t in list(case["inputs"].items()) + list(case["outputs"].items()):
            want = declared.get(k)
            if want is None or t["dtype"] == "zipmap":
                continue
            if len(want) != len(t["shape"]) or any(isinstance(d, int) and d != a for d, a in zip(want, t["shape"])):
                note = f"{k} is declared with shape {want} but onnxruntime returns {t['shape']} at batch {case['batch']}"
                notes.append(note)
    for vi in sig["inputs"] + sig["outputs"]:
        shape = vi["shape"]
        if shape and any(not isinstance(d, int) for d in shape[1:]):
            notes.append(f"{vi['name']}: non-batch dims are not fixed in the file: {shape}")
        if shape and shape[0] is None:
            notes.append(f"unset batch dim on {vi['name']} (no dim_value, no dim_param)")
        elif shape and isinstance(shape[0], str):
            notes.append(f"symbolic batch dim '{shape[0]}' on {vi['name']}")
        if vi["dtype"].startswith("seq(map("):
            notes.append(f"ZipMap output {vi['name']}: {vi['dtype']}")
        if vi["dtype"] == "str":
            notes.append(f"string tensor {vi['name']}")
        if vi["dtype"] == "f16":
            notes.append(f"float16 tensor {vi['name']}")
    files = sorted(os.listdir(folder))
    files = [f for f in files if f != "reference.json"]
    ext = sorted({e.value for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
                  for e in t.external_data if e.key == "location"})
    if ext:
        n_ext = sum(1 for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL)
        notes.append(f"external data: {n_ext} of {len(model.graph.initializer)} initializers in {ext}")
    if ml_ops:
        notes.append(f"ai.onnx.ml ops used: {sorted(ml_ops)}")
    ref = {
        "producer": f"onnxruntime {ort.__version__}",
        "family": meta.pop("family"),
        "exporter": meta.pop("exporter"),
        "exporter_version": meta.pop("exporter_version"),
        "library": meta.pop("library"),
        "library_version": meta.pop("library_version"),
        "export_call": meta.pop("export_call"),
        "notes": notes,
        "producer_name": f"{model.producer_name} {model.producer_version}".strip(),
        "ir_version": model.ir_version,
        "opset_import": {(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        "files": files,
        "signature": sig,
        "ops": [list(o) for o in ops],
        "ml_ops": ml_ops,
        **meta,
        "cases": cases,
    }
    dump_json(ref, os.path.join(folder, "reference.json"))
    return ref


def fresh(name):
    folder = os.path.join(HERE, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    return folder


# ---------------------------------------------------------------------------------------------
# scikit-learn through skl2onnx (defaults: ZipMap on, target opset = latest skl2onnx knows)
# ---------------------------------------------------------------------------------------------

def skl_meta(family, est_name, extra_notes=()):
    import skl2onnx
    import sklearn
    return {
        "family": family,
        "exporter": "skl2onnx",
        "exporter_version": skl2onnx.__version__,
        "library": "scikit-learn",
        "library_version": sklearn.__version__,
        "export_call": "skl2onnx.to_onnx(model, initial_types=[(\"X\", FloatTensorType([None, n]))])",
        "estimator": est_name,
        "notes": list(extra_notes),
    }


def skl_save(name, model, n_features, family, est_name, make_inputs, notes=(), target_opset=None):
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType
    folder = fresh(name)
    onx = to_onnx(model, initial_types=[("X", FloatTensorType([None, n_features]))],
                  target_opset=target_opset)
    onnx.save(onx, os.path.join(folder, "model.onnx"))
    meta = skl_meta(family, est_name, notes)
    if target_opset is not None:
        meta["export_call"] = meta["export_call"][:-1] + f", target_opset={target_opset!r})"
    return finish(name, meta, make_inputs)


def uniform_inputs(rng, lo, hi, name="X"):
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    return lambda n: {name: rng.uniform(lo, hi, (n, lo.shape[0])).astype(np.float32)}


def classification_data(name, n_features=5, n_classes=3, n=300):
    from sklearn.datasets import make_classification
    x, y = make_classification(n_samples=n, n_features=n_features, n_informative=3,
                               n_redundant=1, n_classes=n_classes, n_clusters_per_class=1,
                               random_state=zlib.crc32(name.encode()) % 10000)
    return x.astype(np.float32), y


def regression_data(name, n_features=5, n=300):
    from sklearn.datasets import make_regression
    x, y = make_regression(n_samples=n, n_features=n_features, n_informative=4, noise=5.0,
                           random_state=zlib.crc32(name.encode()) % 10000)
    return x.astype(np.float32), y.astype(np.float32)


def input_range(x):
    lo, hi = x.min(axis=0), x.max(axis=0)
    pad = 0.1 * (hi - lo)
    return lo - pad, hi + pad


def skl_classifier(name, make, family, est_name, n_classes=3, notes=()):
    def build():
        x, y = classification_data(name, n_classes=n_classes)
        model = make().fit(x, y)
        lo, hi = input_range(x)
        return skl_save(name, model, x.shape[1], family, est_name,
                        uniform_inputs(rng_for(name), lo, hi), notes)
    return build


def skl_regressor(name, make, family, est_name, notes=()):
    def build():
        x, y = regression_data(name)
        model = make().fit(x, y)
        lo, hi = input_range(x)
        return skl_save(name, model, x.shape[1], family, est_name,
                        uniform_inputs(rng_for(name), lo, hi), notes)
    return build


def skl_models():
    from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor,
                                  GradientBoostingClassifier, GradientBoostingRegressor,
                                  RandomForestClassifier, RandomForestRegressor)
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.svm import SVC, SVR

    return {
        "skl_logreg": skl_classifier(
            "skl_logreg", lambda: LogisticRegression(max_iter=500), "linear classifier",
            "LogisticRegression() 3 classes, 5 features"),
        "skl_linreg": skl_regressor(
            "skl_linreg", lambda: LinearRegression(), "linear regressor",
            "LinearRegression() 5 features"),
        "skl_rf_clf": skl_classifier(
            "skl_rf_clf", lambda: RandomForestClassifier(n_estimators=6, max_depth=4, random_state=1),
            "tree ensemble classifier", "RandomForestClassifier(n_estimators=6, max_depth=4) 3 classes"),
        "skl_gb_clf": skl_classifier(
            "skl_gb_clf", lambda: GradientBoostingClassifier(n_estimators=6, max_depth=3, random_state=1),
            "tree ensemble classifier", "GradientBoostingClassifier(n_estimators=6, max_depth=3) binary",
            n_classes=2),
        "skl_gb_clf3": skl_classifier(
            "skl_gb_clf3", lambda: GradientBoostingClassifier(n_estimators=4, max_depth=3, random_state=1),
            "tree ensemble classifier", "GradientBoostingClassifier(n_estimators=4, max_depth=3) 3 classes"),
        "skl_et_clf": skl_classifier(
            "skl_et_clf", lambda: ExtraTreesClassifier(n_estimators=6, max_depth=4, random_state=1),
            "tree ensemble classifier", "ExtraTreesClassifier(n_estimators=6, max_depth=4) 3 classes"),
        "skl_rf_reg": skl_regressor(
            "skl_rf_reg", lambda: RandomForestRegressor(n_estimators=6, max_depth=4, random_state=1),
            "tree ensemble regressor", "RandomForestRegressor(n_estimators=6, max_depth=4)"),
        "skl_gb_reg": skl_regressor(
            "skl_gb_reg", lambda: GradientBoostingRegressor(n_estimators=6, max_depth=3, random_state=1),
            "tree ensemble regressor", "GradientBoostingRegressor(n_estimators=6, max_depth=3)"),
        "skl_et_reg": skl_regressor(
            "skl_et_reg", lambda: ExtraTreesRegressor(n_estimators=6, max_depth=4, random_state=1),
            "tree ensemble regressor", "ExtraTreesRegressor(n_estimators=6, max_depth=4)"),
        "skl_svc": skl_classifier(
            "skl_svc", lambda: SVC(probability=True, random_state=1), "svm classifier",
            "SVC(probability=True) rbf kernel, 3 classes"),
        "skl_svr": skl_regressor(
            "skl_svr", lambda: SVR(C=100.0), "svm regressor", "SVR(C=100) rbf kernel"),
        "skl_pipeline_pca": skl_pipeline_pca,
        "skl_kmeans": skl_kmeans,
        "skl_isolation_forest": skl_isolation_forest,
        "skl_string_labels": skl_string_labels,
        "skl_column_transformer": skl_column_transformer,
    }


def skl_pipeline_pca():
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    name = "skl_pipeline_pca"
    x, y = classification_data(name, n_features=6)
    model = Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=3, random_state=1)),
                      ("clf", LogisticRegression(max_iter=500))]).fit(x, y)
    lo, hi = input_range(x)
    return skl_save(name, model, x.shape[1], "pipeline", "Pipeline(StandardScaler, PCA(3), LogisticRegression) 3 classes",
                    uniform_inputs(rng_for(name), lo, hi))


def skl_kmeans():
    from sklearn.cluster import KMeans
    name = "skl_kmeans"
    x, _ = classification_data(name, n_features=4)
    model = KMeans(n_clusters=3, n_init=3, random_state=1).fit(x)
    lo, hi = input_range(x)
    return skl_save(name, model, x.shape[1], "clustering", "KMeans(n_clusters=3) 4 features",
                    uniform_inputs(rng_for(name), lo, hi))


def skl_isolation_forest():
    """skl2onnx's default conversion of IsolationForest fails (it refuses ai.onnx.ml 4, the
    default with this onnx: "You need to specify target_opset={'ai.onnx.ml': 3}"; and that
    alone fails with "op_version must be specified"). Users must pass both opsets, as here."""
    import skl2onnx
    from sklearn.ensemble import IsolationForest
    name = "skl_isolation_forest"
    x, _ = regression_data(name, n_features=4)
    model = IsolationForest(n_estimators=6, max_samples=64, random_state=1).fit(x)
    lo, hi = input_range(x)
    target = {"": skl2onnx.get_latest_tested_opset_version(), "ai.onnx.ml": 3}
    return skl_save(name, model, x.shape[1], "anomaly detection", "IsolationForest(n_estimators=6, max_samples=64)",
                    uniform_inputs(rng_for(name), lo, hi), target_opset=target,
                    notes=["default to_onnx fails: 'The model is using version 4 of domain ai.onnx.ml not "
                           "supported yet by this library. You need to specify target_opset={ai.onnx.ml: 3}'; "
                           "target_opset={'ai.onnx.ml': 3} alone fails with 'op_version must be specified'; "
                           "exported with target_opset={'': latest tested, 'ai.onnx.ml': 3}"])


def skl_string_labels():
    """Iris with its species names as class labels: string label tensor, string ZipMap keys."""
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier
    name = "skl_string_labels"
    iris = load_iris()
    x = iris.data.astype(np.float32)
    y = iris.target_names[iris.target]  # "setosa", "versicolor", "virginica"
    model = DecisionTreeClassifier(max_depth=4, random_state=1).fit(x, y)
    lo, hi = input_range(x)
    return skl_save(name, model, x.shape[1], "tree classifier",
                    "DecisionTreeClassifier(max_depth=4) on iris, string labels",
                    uniform_inputs(rng_for(name), lo, hi),
                    notes=["class labels are strings: setosa, versicolor, virginica"])


def skl_column_transformer():
    """Mixed numeric and categorical columns, from a pandas DataFrame: one ONNX input per column
    (the skl2onnx tutorial way), strings for the categorical ones."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    name = "skl_column_transformer"
    rng = rng_for(name)
    n = 300
    cities = np.array(["paris", "lyon", "nice", "lille"])
    plans = np.array(["free", "pro"])
    df = pd.DataFrame({
        "age": rng.uniform(18, 80, n).astype(np.float32),
        "income": rng.normal(40, 15, n).astype(np.float32),
        "city": cities[rng.integers(0, 4, n)],
        "plan": plans[rng.integers(0, 2, n)],
    })
    score = (df.age / 40 + (df.city == "paris") * 1.0 + (df.plan == "pro") * 0.8
             - df.income / 50 + rng.normal(0, 0.3, n))
    y = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    model = Pipeline([
        ("prep", ColumnTransformer([
            ("num", StandardScaler(), ["age", "income"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
        ])),
        ("clf", LogisticRegression(max_iter=500)),
    ]).fit(df, y)
    folder = fresh(name)
    initial_types = [("age", FloatTensorType([None, 1])), ("income", FloatTensorType([None, 1])),
                     ("city", StringTensorType([None, 1])), ("plan", StringTensorType([None, 1]))]
    onx = to_onnx(model, initial_types=initial_types)
    onnx.save(onx, os.path.join(folder, "model.onnx"))
    meta = skl_meta("pipeline", "Pipeline(ColumnTransformer(StandardScaler [age, income], "
                    "OneHotEncoder(handle_unknown='ignore') [city, plan]), LogisticRegression) 3 classes",
                    ["one input per DataFrame column, each [None, 1]; city and plan are string tensors",
                     "inputs include a category never seen in training (handle_unknown='ignore')"])
    meta["export_call"] = ("skl2onnx.to_onnx(model, initial_types=[(\"age\", FloatTensorType([None, 1])), "
                           "(\"income\", FloatTensorType([None, 1])), (\"city\", StringTensorType([None, 1])), "
                           "(\"plan\", StringTensorType([None, 1]))])")
    test_cities = np.array(["paris", "lyon", "nice", "lille", "brest"])  # brest: unknown

    def make_inputs(b):
        return {
            "age": rng.uniform(18, 80, (b, 1)).astype(np.float32),
            "income": rng.normal(40, 15, (b, 1)).astype(np.float32),
            "city": test_cities[rng.integers(0, 5, (b, 1))].astype(object),
            "plan": plans[rng.integers(0, 2, (b, 1))].astype(object),
        }
    return finish(name, meta, make_inputs)


# ---------------------------------------------------------------------------------------------
# LightGBM and XGBoost through onnxmltools (defaults: ZipMap on for classifiers)
# ---------------------------------------------------------------------------------------------

def mlt_save(name, model, n_features, convert, lib, family, est_name, make_inputs):
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType
    folder = fresh(name)
    onx = convert(model, initial_types=[("input", FloatTensorType([None, n_features]))])
    # onnxmltools names the graph with a random uuid4; a fixed name keeps the committed files
    # reproducible (the graph name has no effect on the model).
    onx.graph.name = name
    onnx.save(onx, os.path.join(folder, "model.onnx"))
    meta = {
        "family": family,
        "exporter": "onnxmltools",
        "exporter_version": onnxmltools.__version__,
        "library": lib,
        "library_version": version(lib),
        "export_call": f"onnxmltools.{convert.__name__}(model, initial_types=[(\"input\", FloatTensorType([None, n]))])",
        "estimator": est_name,
        "notes": ["graph name set to the model name (onnxmltools writes a random uuid)"],
    }
    return finish(name, meta, make_inputs)


def mlt_models():
    def lgbm_clf(name, n_classes):
        def build():
            import lightgbm
            from onnxmltools import convert_lightgbm
            x, y = classification_data(name, n_classes=n_classes)
            model = lightgbm.LGBMClassifier(n_estimators=5, num_leaves=7, random_state=1, n_jobs=1,
                                            verbose=-1).fit(x, y)
            lo, hi = input_range(x)
            return mlt_save(name, model, x.shape[1], convert_lightgbm, "lightgbm", "gbdt classifier",
                            f"LGBMClassifier(n_estimators=5, num_leaves=7) {n_classes} classes",
                            uniform_inputs(rng_for(name), lo, hi, "input"))
        return build

    def lgbm_reg():
        import lightgbm
        from onnxmltools import convert_lightgbm
        name = "lgbm_reg"
        x, y = regression_data(name)
        model = lightgbm.LGBMRegressor(n_estimators=5, num_leaves=7, random_state=1, n_jobs=1,
                                       verbose=-1).fit(x, y)
        lo, hi = input_range(x)
        return mlt_save(name, model, x.shape[1], convert_lightgbm, "lightgbm", "gbdt regressor",
                        "LGBMRegressor(n_estimators=5, num_leaves=7)",
                        uniform_inputs(rng_for(name), lo, hi, "input"))

    def xgb_clf(name, n_classes):
        def build():
            import xgboost
            from onnxmltools import convert_xgboost
            x, y = classification_data(name, n_classes=n_classes)
            model = xgboost.XGBClassifier(n_estimators=5, max_depth=3, random_state=1, n_jobs=1).fit(x, y)
            lo, hi = input_range(x)
            return mlt_save(name, model, x.shape[1], convert_xgboost, "xgboost", "gbdt classifier",
                            f"XGBClassifier(n_estimators=5, max_depth=3) {n_classes} classes",
                            uniform_inputs(rng_for(name), lo, hi, "input"))
        return build

    def xgb_reg():
        import xgboost
        from onnxmltools import convert_xgboost
        name = "xgb_reg"
        x, y = regression_data(name)
        model = xgboost.XGBRegressor(n_estimators=5, max_depth=3, random_state=1, n_jobs=1).fit(x, y)
        lo, hi = input_range(x)
        return mlt_save(name, model, x.shape[1], convert_xgboost, "xgboost", "gbdt regressor",
                        "XGBRegressor(n_estimators=5, max_depth=3)",
                        uniform_inputs(rng_for(name), lo, hi, "input"))

    return {
        "lgbm_clf": lgbm_clf("lgbm_clf", 3),
        "lgbm_clf_binary": lgbm_clf("lgbm_clf_binary", 2),
        "lgbm_reg": lgbm_reg,
        "xgb_clf": xgb_clf("xgb_clf", 2),
        "xgb_clf3": xgb_clf("xgb_clf3", 3),
        "xgb_reg": xgb_reg,
    }


# ---------------------------------------------------------------------------------------------
# torch / torchvision through torch.onnx.export (torch 2.x default: dynamo=True,
# external_data=True, exporter's default opset), with dynamic_axes on the batch
# ---------------------------------------------------------------------------------------------

FULL_RESNET18 = False


def grid_normal(rng, shape, dtype=np.float32):
    """Normal values on a 1/64 grid: exact in float32/float16 and short in JSON."""
    return (np.round(rng.normal(0, 1, shape) * 64) / 64).clip(-4, 4).astype(dtype)


def randomize_batchnorm(model, rng):
    """Trained-looking BatchNorm statistics, so BN is not an identity."""
    import torch
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.1, c).astype(np.float32)))
            m.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))
            m.weight.data.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))
            m.bias.data.copy_(torch.from_numpy(rng.normal(0, 0.1, c).astype(np.float32)))


def torch_save(name, model, example, family, desc, make_inputs, dynamo=True, notes=(), opts=None):
    import torch
    folder = fresh(name)
    model.eval()
    path = os.path.join(folder, "model.onnx")
    kwargs = dict(input_names=["input"], output_names=["output"],
                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    call = ("torch.onnx.export(model, (x,), \"model.onnx\", input_names=[\"input\"], "
            "output_names=[\"output\"], dynamic_axes={\"input\": {0: \"batch\"}, \"output\": {0: \"batch\"}}")
    if not dynamo:
        kwargs["dynamo"] = False
        call += ", dynamo=False"
    call += ")"
    cwd = os.getcwd()
    try:
        os.chdir(folder)  # the exporter may leave artifacts in the working directory
        with torch.no_grad():
            torch.onnx.export(model, (example,), path, **kwargs)
    finally:
        os.chdir(cwd)
    meta = {
        "family": family,
        "exporter": "torch.onnx.export (dynamo)" if dynamo else "torch.onnx.export (TorchScript, dynamo=False)",
        "exporter_version": torch.__version__,
        "library": "torch",
        "library_version": torch.__version__,
        "export_call": call,
        "estimator": desc,
        "notes": list(notes),
    }
    if opts:
        meta.update(opts)
    if "torchvision" in desc:
        import torchvision
        meta["torchvision_version"] = torchvision.__version__
    # Check torch and onnxruntime agree (catches a wrong export early).
    ref = finish(name, meta, make_inputs)
    case = ref["cases"][1]
    x = torch.from_numpy(np.array(case["inputs"]["input"]["data"],
                                  dtype=np.float16 if case["inputs"]["input"]["dtype"] == "f16" else np.float32)
                         .reshape(case["inputs"]["input"]["shape"]))
    with torch.no_grad():
        want = model(x).float().numpy().reshape(-1)
    got = np.array(case["outputs"]["output"]["data"], dtype=np.float64)
    err = np.max(np.abs(got - want) / (np.abs(want) + 1e-3))
    tol = 1e-2 if case["inputs"]["input"]["dtype"] == "f16" else 1e-3
    assert err < tol, f"{name}: torch and onnxruntime differ ({err})"
    return ref


def torch_models():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(1)

    def seeded(name):
        torch.manual_seed(zlib.crc32(name.encode()) % (2 ** 31))
        return rng_for(name)

    def mobilenet():
        import torchvision
        name = "torch_mobilenet_v3_small"
        rng = seeded(name)
        model = torchvision.models.mobilenet_v3_small(weights=None, num_classes=10)
        randomize_batchnorm(model, rng)
        return torch_save(name, model, torch.zeros(2, 3, 64, 64), "cnn",
                          "torchvision.models.mobilenet_v3_small(weights=None, num_classes=10), input 3x64x64",
                          lambda n: {"input": grid_normal(rng, (n, 3, 64, 64))})

    def resnet18():
        import torchvision
        from torchvision.models.resnet import BasicBlock
        name = "torch_resnet18"
        rng = seeded(name)
        if FULL_RESNET18:
            model = torchvision.models.resnet18(weights=None, num_classes=10)
            desc = "torchvision.models.resnet18(weights=None, num_classes=10), input 3x32x32"
        else:
            model = torchvision.models.resnet18(weights=None, num_classes=10)
            # torchvision's resnet18 topology at a quarter of its widths (16-32-64-128 channels
            # instead of 64-128-256-512): same layers and ops, 0.7 M parameters instead of 11 M.
            w = 16
            model.inplanes = w
            model.conv1 = nn.Conv2d(3, w, kernel_size=7, stride=2, padding=3, bias=False)
            model.bn1 = nn.BatchNorm2d(w)
            model.layer1 = model._make_layer(BasicBlock, w, 2)
            model.layer2 = model._make_layer(BasicBlock, 2 * w, 2, stride=2)
            model.layer3 = model._make_layer(BasicBlock, 4 * w, 2, stride=2)
            model.layer4 = model._make_layer(BasicBlock, 8 * w, 2, stride=2)
            model.fc = nn.Linear(8 * w, 10)
            for m in model.modules():  # torchvision's own initialisation
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            desc = ("torchvision.models.resnet18(weights=None, num_classes=10) rebuilt at 1/4 width "
                    "(16-32-64-128) with torchvision's ResNet._make_layer/BasicBlock, input 3x32x32")
        randomize_batchnorm(model, rng)
        return torch_save(name, model, torch.zeros(2, 3, 32, 32), "cnn", desc,
                          lambda n: {"input": grid_normal(rng, (n, 3, 32, 32))})

    class LSTMClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(input_size=8, hidden_size=16, num_layers=1, batch_first=True)
            self.fc = nn.Linear(16, 3)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.fc(out[:, -1])

    def lstm():
        name = "torch_lstm"
        rng = seeded(name)
        return torch_save(name, LSTMClassifier(), torch.zeros(2, 5, 8), "rnn",
                          "nn.LSTM(8, 16, batch_first=True) over 5 steps + nn.Linear(16, 3) on the last step",
                          lambda n: {"input": grid_normal(rng, (n, 5, 8))})

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32,
                                               dropout=0.1, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
            self.fc = nn.Linear(16, 4)

        def forward(self, x):
            return self.fc(self.enc(x).mean(dim=1))

    def transformer():
        name = "torch_transformer_encoder"
        rng = seeded(name)
        model = Encoder()
        # TransformerEncoder deep-copies one layer, so both start identical (and LayerNorms are
        # 1/0): perturb every parameter, as training would, so the layers differ.
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.from_numpy(rng.normal(0, 0.05, tuple(p.shape)).astype(np.float32)))
        return torch_save(name, model, torch.zeros(2, 6, 16), "transformer",
                          "nn.TransformerEncoder(TransformerEncoderLayer(d_model=16, nhead=2, "
                          "dim_feedforward=32, batch_first=True), num_layers=2) over 6 tokens, "
                          "mean-pooled, nn.Linear(16, 4)",
                          lambda n: {"input": grid_normal(rng, (n, 6, 16))})

    class Interp(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 4, 3, padding=1)
            self.c2 = nn.Conv2d(4, 2, 3, padding=1)

        def forward(self, x):
            y = F.interpolate(self.c1(x), size=(16, 16), mode="bilinear", align_corners=False)
            return F.interpolate(self.c2(y), size=(6, 6), mode="nearest")

    def interp(name, dynamo):
        def build():
            rng = seeded(name)
            return torch_save(
                name, Interp(), torch.zeros(2, 3, 8, 8), "resize",
                "Conv2d, F.interpolate(size=(16, 16), mode='bilinear'), Conv2d, "
                "F.interpolate(size=(6, 6), mode='nearest'); input 3x8x8",
                lambda n: {"input": grid_normal(rng, (n, 3, 8, 8))}, dynamo=dynamo,
                notes=["Resize sizes computed from Shape(x) under a dynamic batch (issue 15 kind 5, H008)"])
        return build

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))

        def forward(self, x):
            return self.net(x)

    def fp16():
        name = "torch_mlp_fp16"
        rng = seeded(name)
        model = MLP().half()
        return torch_save(name, model, torch.zeros(2, 6, dtype=torch.float16), "mlp",
                          "nn.Sequential(Linear(6, 16), ReLU, Linear(16, 3)).half(): float16 in and out",
                          lambda n: {"input": grid_normal(rng, (n, 6), np.float16)},
                          notes=["float16 weights, input and output; onnxruntime computes in float16, "
                                 "so compare with a float16-sized tolerance (about 1e-2 relative)"])

    return {
        "torch_mobilenet_v3_small": mobilenet,
        "torch_resnet18": resnet18,
        "torch_lstm": lstm,
        "torch_transformer_encoder": transformer,
        "torch_interpolate": interp("torch_interpolate", True),
        "torch_interpolate_legacy": interp("torch_interpolate_legacy", False),
        "torch_mlp_fp16": fp16,
    }


# ---------------------------------------------------------------------------------------------

def inventory(names):
    """Prints the union of ops across the set: ai.onnx.ml with attributes, then the others."""
    ml, std = {}, {}
    for name in names:
        model = onnx.load(os.path.join(HERE, name, "model.onnx"), load_external_data=False)
        for (dom, op), attrs in std_attr_summary(model).items():
            bucket = ml if dom == ML else std
            bucket.setdefault((dom, op), {})[name] = attrs
    print("\n== ai.onnx.ml ops ==")
    for (dom, op), per_model in sorted(ml.items()):
        print(f"{op}: {sorted(per_model)}")
        for model_name, attrs in sorted(per_model.items()):
            short = {k: (f"<lists of {v['list_lengths']}, many values>" if isinstance(v, dict)
                         and v.get("distinct") == "many" else v) for k, v in attrs.items()}
            print(f"    {model_name}: {json.dumps(short, default=str)}")
    print("\n== other ops ==")
    for (dom, op), per_model in sorted(std.items()):
        print(f"{dom or 'ai.onnx'}::{op}: {sorted(per_model)}")


def main():
    global FULL_RESNET18
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="models to build (default: all)")
    parser.add_argument("--full-resnet18", action="store_true",
                        help="stock torchvision resnet18 (45 MB) instead of the 1/4-width one")
    parser.add_argument("--inventory", action="store_true", help="only print the op inventory")
    args = parser.parse_args()
    FULL_RESNET18 = args.full_resnet18
    builders = {}
    for group in (skl_models, mlt_models, torch_models):
        try:
            builders.update(group())
        except ImportError as e:
            print(f"skipping {group.__name__}: {e}", file=sys.stderr)
    names = args.names or list(builders)
    if not args.inventory:
        failed = []
        for name in names:
            try:
                ref = builders[name]()
                print(f"{name}: ok ({', '.join(ref['files'])}; {ref['exporter']} {ref['exporter_version']})")
            except Exception as e:  # report every failure, keep going
                failed.append(name)
                print(f"{name}: FAILED {type(e).__name__}: {e}", file=sys.stderr)
        if failed:
            print(f"failed: {failed}", file=sys.stderr)
    built = [n for n in names if os.path.exists(os.path.join(HERE, n, "reference.json"))]
    inventory(built)


if __name__ == "__main__":
    main()
