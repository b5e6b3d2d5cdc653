#!/usr/bin/env bash
# Boots the edgeserve image under qemu (TCG: no KVM needed) and proves it serves: the daemon
# reaches READY, the example endpoint's key is read back through the image's own control plane
# (edgeserve endpoint get-credentials, run by the guest agent), and a scoring request over TLS
# on a forwarded loopback port returns the model's answer. Builds the image first.
#   bash images/boot-test.sh [--out DIR]
# Exits 0 and prints "boot test passed" on success.
set -euo pipefail
cd "$(dirname "$0")/.."

out=target/image
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        *) echo "images/boot-test.sh: unknown argument $1 (use --out DIR)" >&2; exit 2 ;;
    esac
done
start=$(date +%s)
bash images/build.sh --out "$out" >/dev/null
out=$(cd "$out" && pwd)
work=$(mktemp -d)
qga="$work/qga.sock"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

qemu-system-x86_64 -nodefaults -machine q35 -accel tcg -cpu max -smp 2 -m 1536 \
    -display none -serial "file:$work/serial.log" \
    -kernel "$out/vmlinuz" -append "root=/dev/nvme0n1 rw console=ttyS0 panic=-1" \
    -drive "file=$out/edgeserve.img,if=none,id=root,format=raw,snapshot=on" \
    -device nvme,drive=root,serial=edgeserve \
    -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:8443" -device virtio-net-pci,netdev=net0 \
    -device virtio-serial-pci \
    -chardev "socket,path=$qga,server=on,wait=off,id=qga0" \
    -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0 \
    -no-reboot &
qemu=$!
cleanup() {
    python3 images/qga.py "$qga" shutdown >/dev/null 2>&1 || true
    for _ in $(seq 1 30); do kill -0 "$qemu" 2>/dev/null || break; sleep 1; done
    kill "$qemu" 2>/dev/null || true
    wait "$qemu" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "boot test FAILED: $*" >&2
    echo "--- last serial console lines ---" >&2
    tail -n 40 "$work/serial.log" >&2 || true
    exit 1
}

# The guest agent answers once the box is up.
for _ in $(seq 1 300); do
    kill -0 "$qemu" 2>/dev/null || fail "qemu exited"
    python3 images/qga.py "$qga" ping 2>/dev/null && break
    sleep 1
done
python3 images/qga.py "$qga" ping || fail "the guest agent never answered"

# edgeserved reports READY to systemd (Type=notify): the unit is active.
for _ in $(seq 1 120); do
    state=$(python3 images/qga.py "$qga" exec /bin/systemctl is-active edgeserved.service 2>/dev/null || true)
    [ "$state" = "active" ] && break
    sleep 1
done
[ "$state" = "active" ] || fail "edgeserved is '$state', not active: $(python3 images/qga.py "$qga" exec /bin/journalctl -u edgeserved --no-pager -n 30 2>&1)"

# The key, read back from the image's control plane.
creds=$(python3 images/qga.py "$qga" exec /usr/bin/edgeserve endpoint get-credentials -n mlp) || fail "get-credentials: $creds"
key=$(printf '%s' "$creds" | python3 -c 'import json,sys; print(json.load(sys.stdin)["primaryKey"])')

# Score over TLS through the forwarded port, verifying the image's certificate.
answer=$(curl --silent --show-error --max-time 60 --cacert "$out/tls/cert.pem" \
    --resolve "edge-box.local:$port:127.0.0.1" \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d '{"data": [[0.5, 0.1, -0.3, 2.0]]}' \
    "https://edge-box.local:$port/api/v1/service/mlp/score") || fail "scoring failed: $answer"
printf '%s' "$answer" | python3 -c 'import json,sys; r=json.load(sys.stdin)["result"]; assert len(r)==1 and len(r[0])==3 and abs(sum(r[0])-1)<1e-4, r' \
    || fail "unexpected answer: $answer"
# A wrong key is refused by the booted daemon too.
code=$(curl --silent --output /dev/null --write-out '%{http_code}' --max-time 60 --cacert "$out/tls/cert.pem" \
    --resolve "edge-box.local:$port:127.0.0.1" -H "Authorization: Bearer esk_wrong" \
    -H 'Content-Type: application/json' -d '{"data": [[1, 2, 3, 4]]}' "https://edge-box.local:$port/api/v1/service/mlp/score")
[ "$code" = "401" ] || fail "a wrong key got HTTP $code"

echo "answer: $answer"
echo "boot test passed in $(( $(date +%s) - start ))s"
