#!/usr/bin/env bash
# The FPGA path on real hardware: edgeserved serving Vitis' vector-add kernel from an Alveo card
# over the plain listener, with a key, and the sums checked.
#
#   tests/hardware/run.sh path/to/vadd.xclbin     # on a box with a card (see README.md here)
#   tests/hardware/run.sh --noop                  # dry run of this script on XRT's no-op shim
#
# Needs: edgeserved and edgeserve (PATH, or target/debug), curl, python3, XRT (XILINX_XRT set,
# e.g. `source /opt/xilinx/xrt/setup.sh`). Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
PATH="$repo/target/debug:$PATH"

work="$(mktemp -d /tmp/edgeserve-hw-XXXXXX)"
daemon_pid=""
cleanup() { [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

noop=no
if [ "${1:-}" = "--noop" ]; then
    noop=yes
    mkdir -p "$work/xrt"
    ln -s /usr/lib/x86_64-linux-gnu "$work/xrt/lib"
    export XILINX_XRT="$work/xrt" XCL_EMULATION_MODE=noop
    (cd "$repo" && cargo run -q -p edgeserve-accel --example noop_xclbin -- "$work/vadd.xclbin")
    xclbin="$work/vadd.xclbin"
else
    xclbin="${1:?usage: run.sh VADD.xclbin | --noop}"
    [ -n "${XILINX_XRT:-}" ] || { echo "XILINX_XRT is not set: source /opt/xilinx/xrt/setup.sh" >&2; exit 2; }
fi

mkdir -p "$work/pkg" "$work/state" "$work/creds"
cp "$xclbin" "$work/pkg/model.xclbin"
# vadd(in1, in2, out, size): one element per row, so the batch size is the element count.
cat >"$work/pkg/kernel.toml" <<TOML
kernel = "vadd"
[[input]]
name = "in1"
dtype = "i32"
shape = [-1, 1]
arg = 0
[[input]]
name = "in2"
dtype = "i32"
shape = [-1, 1]
arg = 1
[[output]]
name = "out"
dtype = "i32"
shape = [-1, 1]
arg = 2
[batch]
arg = 3
TOML
cat >"$work/edgeserve.toml" <<TOML
[daemon]
state_dir = "$work/state"
control_socket = "$work/control.sock"
[tls]
listen = []
cname = "localhost"
[plain]
listen = ["127.0.0.1:18080"]
[metrics]
listen = "127.0.0.1:19464"
TOML

CREDENTIALS_DIRECTORY="$work/creds" EDGESERVE_LOG="info,edgeserve_accel::fpga=debug" \
    edgeserved --config "$work/edgeserve.toml" 2>"$work/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$work/control.sock" ] && break; sleep 0.1; done
cli() { edgeserve --socket "$work/control.sock" "$@"; }

echo "== device list"; cli -o table device list
cli model register --name vadd --version 1 --path "$work/pkg" >/dev/null
cli endpoint create --name vadd --transport plain >/dev/null
cli deployment create --name card --endpoint vadd --model vadd:1 --target fpga --all-traffic >/dev/null
key="$(cli endpoint get-credentials -n vadd | python3 -c 'import json,sys; print(json.load(sys.stdin)["primaryKey"])')"

answer="$(curl -sS --fail-with-body -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d '{"inputs": {"in1": [[1], [2], [3], [40]], "in2": [[10], [20], [30], [2]]}}' \
    http://127.0.0.1:18080/api/v1/service/vadd/score)"
echo "== answer: $answer"
status="$(curl -s -o /dev/null -w '%{http_code}' -d '{}' http://127.0.0.1:18080/api/v1/service/vadd/score)"
[ "$status" = 401 ] || { echo "FAIL: a request without a key got $status" >&2; exit 1; }

echo "== XRT calls"; grep -o 'call=[A-Za-z(). ]*' "$work/daemon.log" | sort | uniq -c
if [ "$noop" = yes ]; then
    python3 -c 'import json,sys; a=json.loads(sys.argv[1]); assert len(a["result"])==4' "$answer"
    echo "PASS (dry run on the no-op shim: the sums are not computed, only the path is proven)"
else
    python3 -c 'import json,sys; a=json.loads(sys.argv[1]); assert a["result"]==[[11],[22],[33],[42]], a' "$answer"
    echo "PASS: the card computed the sums"
fi
