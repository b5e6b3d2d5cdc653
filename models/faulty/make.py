"""Makes models/faulty/model.onnx: Gather of a 4x2 table by an index input. Indices 0..3 score;
an index beyond the table makes the CPU backend fail at run time (tract panics, the daemon turns
that into a 500), which the tests use to drive a deployment into `Degraded` and back.
Run: python3 models/faulty/make.py (needs the `onnx` package)."""
import os

import onnx
from onnx import TensorProto, helper

table = helper.make_tensor("table", TensorProto.FLOAT, [4, 2], [0, 1, 10, 11, 20, 21, 30, 31])
graph = helper.make_graph(
    [helper.make_node("Gather", ["table", "idx"], ["y"], axis=0)],
    "faulty",
    [helper.make_tensor_value_info("idx", TensorProto.INT64, ["N"])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
    [table],
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="edgeserve")
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.onnx"))
