#!/usr/bin/env python3
"""Writes the benchmark's inputs into a folder (standard library only, deterministic):

- mlp784/model.onnx: the issue-18 MLP, 784-256-128-10 (Gemm, Relu, Gemm, Relu, Gemm), input
  "x" [N, 784], output "y" [N, 10], weights from a fixed LCG (no onnx package needed: the
  protobuf is written by hand);
- mlp784-seed.json, mlp784-oip.json, mlp784-oip.bin: one row of 784 pixel-like values as a seed
  body, an Open Inference Protocol JSON body and an OIP binary body (JSON header + 3136 bytes);
- cnn-seed.json: one 8x8 image for models/cnn, as a flattened row.

Usage: make_inputs.py OUT_DIR
"""
import json
import os
import struct
import sys


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def s(num, text):
    return field(num, 2, text.encode())


def msg(num, body):
    return field(num, 2, body)


def lcg(seed):
    state = seed
    while True:
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        yield ((state >> 33) / float(1 << 31)) - 0.5


def tensor(name, dims, values):
    body = b"".join(field(1, 0, d) for d in dims) + field(2, 0, 1) + s(8, name)
    return body + msg(9, struct.pack(f"<{len(values)}f", *values))


def value_info(name, dims):
    shape = b"".join(
        msg(1, s(2, d) if isinstance(d, str) else field(1, 0, d)) for d in dims
    )
    tensor_type = field(1, 0, 1) + msg(2, shape)
    return s(1, name) + msg(2, msg(1, tensor_type))


def node(op, inputs, outputs, name):
    return b"".join(s(1, i) for i in inputs) + b"".join(s(2, o) for o in outputs) + s(3, name) + s(4, op)


def mlp784():
    rng = lcg(18)
    sizes = [784, 256, 128, 10]
    graph = b""
    inits = b""
    prev = "x"
    for i, (k, n) in enumerate(zip(sizes, sizes[1:])):
        scale = 2.0 / (k ** 0.5)
        w = [next(rng) * scale for _ in range(k * n)]
        b = [next(rng) * 0.1 for _ in range(n)]
        inits += msg(5, tensor(f"w{i}", [k, n], w)) + msg(5, tensor(f"b{i}", [n], b))
        out = "y" if i == len(sizes) - 2 else f"h{i}"
        graph += msg(1, node("Gemm", [prev, f"w{i}", f"b{i}"], [out], f"fc{i}"))
        if out != "y":
            graph += msg(1, node("Relu", [out], [f"r{i}"], f"relu{i}"))
            prev = f"r{i}"
    graph += s(2, "mlp784") + inits
    graph += msg(11, value_info("x", ["N", 784])) + msg(12, value_info("y", ["N", 10]))
    model = field(1, 0, 8) + s(2, "edgeserve-bench") + msg(7, graph) + msg(8, s(1, "") + field(2, 0, 13))
    return model


def main():
    out = sys.argv[1]
    os.makedirs(os.path.join(out, "mlp784"), exist_ok=True)
    with open(os.path.join(out, "mlp784", "model.onnx"), "wb") as f:
        f.write(mlp784())
    rng = lcg(784)
    # Normalised pixel values as a client would print them (about 7 significant digits).
    row = [round(abs(next(rng)) * 2.0, 7) for _ in range(784)]
    with open(os.path.join(out, "mlp784-seed.json"), "w") as f:
        json.dump({"data": [row]}, f)
    x = {"name": "x", "shape": [1, 784], "datatype": "FP32"}
    with open(os.path.join(out, "mlp784-oip.json"), "w") as f:
        json.dump({"inputs": [dict(x, data=row)]}, f)
    header = json.dumps({"inputs": [dict(x, parameters={"binary_data_size": 784 * 4})]})
    with open(os.path.join(out, "mlp784-oip.bin"), "wb") as f:
        f.write(header.encode() + struct.pack("<784f", *row))
    # A batch of 64 rows, flat as tritonclient writes it, in OIP JSON and with binary tensors.
    rows = [round(abs(next(rng)) * 2.0, 7) for _ in range(64 * 784)]
    x64 = {"name": "x", "shape": [64, 784], "datatype": "FP32"}
    with open(os.path.join(out, "mlp784-b64-oip.json"), "w") as f:
        json.dump({"inputs": [dict(x64, data=rows)]}, f)
    header = json.dumps({"inputs": [dict(x64, parameters={"binary_data_size": 64 * 784 * 4})]})
    with open(os.path.join(out, "mlp784-b64-oip.bin"), "wb") as f:
        f.write(header.encode() + struct.pack(f"<{64 * 784}f", *rows))
    image = [round(next(rng) * 2.0, 7) for _ in range(64)]
    with open(os.path.join(out, "cnn-seed.json"), "w") as f:
        json.dump({"data": [image]}, f)


if __name__ == "__main__":
    main()
