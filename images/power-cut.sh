#!/usr/bin/env bash
# Power cuts (issue 19, SPEC §6 and §8): boots the edgeserve image under qemu (TCG) with its state
# on a separate data disk (cache=none), streams acknowledged control-plane writes into the box
# (the real CLI, run by the guest agent; acknowledgements recorded on the host), kill -9s qemu at
# a random moment, boots again and checks that every acknowledged write is there, that the write
# in flight is there entirely or not at all, and that scoring works with the latest keys.
#   bash images/power-cut.sh [N] [--no-build] [--out DIR] [--seed S]
# N cuts (default 5; README: Reliability runs 30). --no-build reuses DIR/edgeserve.img as
# images/boot-test.sh left it. Exits 0 and prints "power-cut test passed" on success.
set -euo pipefail
cd "$(dirname "$0")/.."

cuts=5
out=target/image
build=1
seed=()
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) build=0; shift ;;
        --out) out=$2; shift 2 ;;
        --seed) seed=(--seed "$2"); shift 2 ;;
        [0-9]*) cuts=$1; shift ;;
        *) echo "images/power-cut.sh: unknown argument $1 (use N, --no-build, --out DIR, --seed S)" >&2; exit 2 ;;
    esac
done
start=$(date +%s)
if [ "$build" = 1 ] || [ ! -f "$out/edgeserve.img" ]; then
    bash images/build.sh --out "$out" >/dev/null
fi
out=$(cd "$out" && pwd)
# The disks live beside the image (not in /tmp, which may be a tmpfs: cache=none needs O_DIRECT).
work=$(mktemp -d "$out/power-cut.XXXXXX")
keep=0
cleanup() {
    if [ "$keep" = 1 ]; then
        rm -f "$work/root.img" "$work/data.img"
        echo "power-cut: journal and serial logs kept in $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# The box's own root disk (a sparse copy: the master key it makes on first boot must persist),
# its fstab mounting the data disk on the state directory before edgeserved starts.
cp --sparse=always "$out/edgeserve.img" "$work/root.img"
cat > "$work/fstab" <<FSTAB
/dev/nvme0n1 / ext4 defaults,errors=remount-ro 0 1
LABEL=edgeserve-data /var/lib/edgeserve ext4 defaults 0 0
FSTAB
debugfs -w -R "rm /etc/fstab" "$work/root.img" >/dev/null 2>&1
debugfs -w -R "write $work/fstab /etc/fstab" "$work/root.img" >/dev/null 2>&1
debugfs -R "cat /etc/fstab" "$work/root.img" 2>/dev/null | grep -q edgeserve-data \
    || { echo "power-cut: could not write the image's fstab" >&2; exit 1; }
truncate -s 512M "$work/data.img"
mkfs.ext4 -q -F -L edgeserve-data "$work/data.img"

if python3 images/power_cut.py --root "$work/root.img" --data "$work/data.img" \
    --kernel "$out/vmlinuz" --cacert "$out/tls/cert.pem" --work "$work" --cuts "$cuts" "${seed[@]}"; then
    echo "power-cut test passed in $(( $(date +%s) - start ))s"
else
    keep=1
    echo "power-cut test FAILED" >&2
    exit 1
fi
