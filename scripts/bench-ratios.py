#!/usr/bin/env python3
"""Prints GPU/CPU time ratios from the last `cargo bench -p edgeserve-accel --bench gpu_vs_cpu`.

Reads criterion's estimates (target/criterion/MODEL/{cpu,gpu}/BATCH/new/estimates.json); a
ratio above 1 means the GPU backend took longer than the CPU backend in the same run.
"""
import json
import os
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "criterion")
if not os.path.isdir(root):
    sys.exit(f"no criterion results under {root}: run the benchmark first")


def mean_ns(*parts):
    with open(os.path.join(root, *parts, "new", "estimates.json")) as f:
        return json.load(f)["mean"]["point_estimate"]


splits = {}
split_file = os.path.join(root, "split.json")
if os.path.exists(split_file):
    with open(split_file) as f:
        splits = json.load(f)

print(f"{'model':<24} {'batch':>5} {'cpu':>12} {'gpu':>12} {'gpu/cpu':>8}  device/host nodes")
for model in sorted(os.listdir(root)):
    cpu_dir = os.path.join(root, model, "cpu")
    if not os.path.isdir(cpu_dir):
        continue
    for batch in sorted(os.listdir(cpu_dir), key=lambda b: (not b.isdigit(), int(b) if b.isdigit() else 0)):
        if not batch.isdigit():
            continue
        cpu, gpu = mean_ns(model, "cpu", batch), mean_ns(model, "gpu", batch)
        s = splits.get(model)
        split = f"{s['device']}/{s['host']} {' '.join(s['hostOps'])}" if s else ""
        print(f"{model:<24} {batch:>5} {cpu / 1e3:>10.1f}us {gpu / 1e3:>10.1f}us {gpu / cpu:>8.2f}  {split}")
