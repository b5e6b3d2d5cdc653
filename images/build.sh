#!/usr/bin/env bash
# Builds a bootable edgeserve disk image: Debian bookworm, the edgeserve .deb, a board profile,
# and a declarative config serving the example MLP on first boot.
#   bash images/build.sh [--out DIR] [--deb PATH] [--board NAME]
# Writes DIR/edgeserve.img (ext4 root), DIR/vmlinuz (for direct kernel boot) and DIR/tls/ (the
# image's self-signed certificate, for clients). The Debian base is cached as a tarball in
# ${EDGESERVE_IMAGE_CACHE:-~/.cache/edgeserve-image}. Needs root (device nodes in the rootfs).
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/image
deb=""
board=generic-x86_64
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --deb) deb=$2; shift 2 ;;
        --board) board=$2; shift 2 ;;
        *) echo "images/build.sh: unknown argument $1 (use --out DIR, --deb PATH, --board NAME)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" -eq 0 ] || { echo "images/build.sh: run as root (the rootfs holds device nodes and root-owned files)" >&2; exit 2; }
bash images/host-deps.sh
mkdir -p "$out"
out=$(cd "$out" && pwd)
# The root filesystem and the image written from it take about 1.5 GiB together: say so now,
# naming the folder, rather than stop in mkfs with "No space left on device".
rm -f "$out/edgeserve.img"
for dir in "$out" "${TMPDIR:-/tmp}"; do
    free_kib=$(df -Pk "$dir" 2>/dev/null | awk 'NR == 2 { print $4 }') || true
    free_mib=$(( ${free_kib:-0} / 1024 ))
    if [ "$free_mib" -lt 1536 ]; then
        echo "images/build.sh: $dir has $free_mib MiB free; the image needs about 1.5 GiB there. Free some space (old images under target/, \`cargo clean\`) and run again" >&2
        exit 1
    fi
done
if [ -z "$deb" ]; then
    # The workspace build (as the test command makes it) is reused, not rebuilt for one package.
    cargo build --quiet --workspace --bins
    deb=$(bash scripts/package-deb.sh --profile debug --bin-dir target/debug --out "$out")
fi

cache="${EDGESERVE_IMAGE_CACHE:-$HOME/.cache/edgeserve-image}"
base="$cache/bookworm-base.tar"
mkdir -p "$cache"
if [ ! -f "$base" ]; then
    echo "images/build.sh: building the Debian base (cached in $base)" >&2
    mmdebstrap --variant=minbase --format=tar --quiet \
        --include=systemd,systemd-sysv,udev,dbus,linux-image-cloud-amd64,qemu-guest-agent,ca-certificates,iproute2,libgcc-s1 \
        bookworm "$base.tmp" http://deb.debian.org/debian
    mv "$base.tmp" "$base"
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
tar -xf "$base" -C "$rootfs"

# The package, installed into the image root by the host's dpkg (maintainer scripts honour
# DPKG_ROOT, as the package test checks).
dpkg --root="$rootfs" --force-script-chrootless --log=/dev/null -i "$deb" >/dev/null

# TLS: a self-signed ECDSA P-256 certificate for edge-box.local (the daemon warns it is for
# development; a real fleet installs its own with `edgeserve tls set`).
mkdir -p "$out/tls"
if [ ! -f "$out/tls/cert.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
        -keyout "$out/tls/key.pem" -out "$out/tls/cert.pem" -subj "/CN=edge-box.local" \
        -addext "subjectAltName=DNS:edge-box.local,DNS:localhost" 2>/dev/null
fi
install -m 0644 "$out/tls/cert.pem" "$rootfs/etc/edgeserve/tls/cert.pem"
install -m 0640 "$out/tls/key.pem" "$rootfs/etc/edgeserve/tls/key.pem"
chroot "$rootfs" chgrp edgeserve /etc/edgeserve/tls/key.pem

# The example model, declared so the box serves it on first boot.
install -D -m 0644 models/mlp/model.onnx "$rootfs/etc/edgeserve/models/mlp/model.onnx"
cat > "$rootfs/etc/edgeserve/edgeserve.toml" <<CONFIG
[daemon]
board = "$board"

[tls]
listen = ["0.0.0.0:8443"]
cert_pem = "/etc/edgeserve/tls/cert.pem"
key_pem = "/etc/edgeserve/tls/key.pem"
cname = "edge-box.local"

[[model]]
name = "mlp"
version = "1"
path = "models/mlp"

[[endpoint]]
name = "mlp"
traffic = { blue = 100 }

[[deployment]]
name = "blue"
endpoint = "mlp"
model = "mlp:1"
target = "cpu"
CONFIG

# The box itself: hostname, root on the first NVMe disk, DHCP on any Ethernet, no login.
echo edge-box > "$rootfs/etc/hostname"
echo "/dev/nvme0n1 / ext4 defaults,errors=remount-ro 0 1" > "$rootfs/etc/fstab"
cat > "$rootfs/etc/systemd/network/80-dhcp.network" <<NETWORK
[Match]
Name=en* eth*

[Network]
DHCP=yes
NETWORK
chroot "$rootfs" systemctl enable systemd-networkd.service >/dev/null 2>&1
rm -f "$rootfs/etc/machine-id" && touch "$rootfs/etc/machine-id"

cp "$(ls "$rootfs"/boot/vmlinuz-* | head -n 1)" "$out/vmlinuz"
rm -f "$out/edgeserve.img"
mkfs.ext4 -q -F -L edgeserve-root -d "$rootfs" "$out/edgeserve.img" 2G
echo "$out/edgeserve.img"
