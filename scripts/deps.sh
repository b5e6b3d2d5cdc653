#!/usr/bin/env bash
# Installs, idempotently, what building and testing edgeserve needs beyond a Rust toolchain.
# Safe with no stdin (CI): nothing is asked, nothing is installed twice.
set -euo pipefail

# Debian packages: a C toolchain for ring, openssl (tests make encrypted keys), setpriv
# (tests switch users), curl (the demo's scoring command), systemd (systemd-analyze,
# sysusers and tmpfiles for the unit and package tests), lintian (the .deb's checks), python3
# (the image boot test talks to the guest agent), PoCL and the OpenCL ICD loader (the GPU
# target runs on PoCL, OpenCL on the CPU, where there is no GPU), clinfo (to see what it found),
# XRT (the FPGA target's runtime, driven through its no-op shim where there is no card; its
# headers and libclang only for the test that regenerates the bindings).
# python3-venv and nodejs: the client interop tests drive Python clients (requests, httpx,
# tritonclient) from a virtual environment, and Node.js's https module.
# haproxy, iproute2 and python3-apt: the fleet test puts Debian's HAProxy with the shipped config
# in front of three daemons in network namespaces, and runs the Ansible playbook in check mode
# (its apt module runs under the system Python, which needs python3-apt).
packages=(build-essential pkg-config openssl util-linux curl ca-certificates systemd dpkg-dev lintian python3
    python3-venv ocl-icd-libopencl1 pocl-opencl-icd clinfo libxrt1 libxrt-dev uuid-dev libclang-dev
    haproxy iproute2 python3-apt)
command -v node >/dev/null 2>&1 || packages+=(nodejs)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing: ${missing[*]}" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

if command -v rustup >/dev/null 2>&1; then
    # rust-toolchain.toml pins a release by number (1.95.0); the build machines install it as
    # "stable". When rustup has no toolchain of the pinned name but its stable is that release,
    # name it so (a link, no download); otherwise every cargo command here would stop with
    # "toolchain ... is not installed". A different stable is left alone: rustup then says what
    # is missing.
    here="$(cd "$(dirname "$0")/.." && pwd)"
    pinned="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' "$here/rust-toolchain.toml")"
    rustup_home="${RUSTUP_HOME:-${HOME:-/root}/.rustup}"
    stable_dir="$(ls -d "$rustup_home"/toolchains/stable-* 2>/dev/null | head -n1 || true)"
    toolchains="$(rustup toolchain list)"
    if [ -n "$pinned" ] && [ -n "$stable_dir" ] && ! grep -q "^$pinned-" <<<"$toolchains"; then
        host="${stable_dir##*/stable-}"
        if "$stable_dir/bin/rustc" -V | grep -q "^rustc $pinned "; then
            echo "naming the installed stable toolchain $pinned-$host (rust-toolchain.toml)" >&2
            ln -s "$stable_dir" "$rustup_home/toolchains/$pinned-$host"
        fi
    fi
    for c in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
    done
fi

# cargo-deny, for the supply-chain checks of scripts/test.sh (deny.toml): built from crates.io
# once, into ~/.cargo/bin, when no 0.20 release is there (about 4.5 CPU-minutes: 3 to 4 minutes
# on an idle 2-core machine).
if ! cargo deny --version 2>/dev/null | grep -q '^cargo-deny 0\.20\.'; then
    echo "installing cargo-deny 0.20 (cargo install --locked)" >&2
    cargo install --locked --version '~0.20' cargo-deny </dev/null
fi

# The Python clients of the interop tests and ansible-core for the fleet playbook, in their own
# virtual environment (re-made when a requirements file changes). Tests find it through
# EDGESERVE_PY_CLIENTS.
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${EDGESERVE_PY_CLIENTS:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/edgeserve/py-clients}"
stamp="$venv/.requirements.sha256"
requirements=("$here/tests/clients/requirements.txt" "$here/packaging/fleet/requirements.txt")
want="$( (cat "${requirements[@]}"; python3 -VV) | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing the Python test clients into $venv" >&2
    # Built aside and moved in whole: a failed install never leaves a half-made venv in place.
    rm -rf "$venv.new"
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv.new"
    "$venv.new/bin/python" -m pip install -q --disable-pip-version-check \
        -r "$here/tests/clients/requirements.txt" -r "$here/packaging/fleet/requirements.txt" </dev/null
    echo "$want" >"$venv.new/.requirements.sha256"
    if [ -f "$venv/pyvenv.cfg" ]; then rm -rf "$venv"; fi
    mv "$venv.new" "$venv"
    # pip wrote the aside path into its scripts (#! lines, activate): point them at the real one.
    for f in "$venv"/bin/*; do
        if [ -f "$f" ] && [ ! -L "$f" ] && grep -Iq . "$f"; then
            sed -i "s|$venv.new|$venv|g" "$f"
        fi
    done
fi
