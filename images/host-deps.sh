#!/usr/bin/env bash
# Installs, idempotently, what building and booting the image needs on a Debian bookworm host:
# mmdebstrap, e2fsprogs (mkfs.ext4 -d), and qemu-system-x86 from bookworm-backports (bookworm's
# own qemu-system-x86 conflicts with the backported qemu-utils these machines carry).
set -euo pipefail
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v curl >/dev/null || need+=(curl)
if ! command -v qemu-system-x86_64 >/dev/null; then
    if [ ! -f /etc/apt/sources.list.d/bookworm-backports.sources ]; then
        $sudo tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<SOURCES
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    fi
    qemu=1
fi
if ((${#need[@]})) || [ -n "${qemu:-}" ]; then
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    ((${#need[@]})) && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
    if [ -n "${qemu:-}" ]; then
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            -t bookworm-backports qemu-system-x86 </dev/null
    fi
fi
