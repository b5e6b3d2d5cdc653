#!/usr/bin/env bash
# Builds the edgeserve .deb: both binaries, the systemd units, sysusers and tmpfiles entries, a
# default config (a conffile: a changed one is never overwritten), the boards' udev rules, shell
# completions (bash, zsh, fish) and the manual pages edgeserve(1) and edgeserved(8).
#   bash scripts/package-deb.sh [--profile dist|release|debug] [--out DIR] [--bin-dir DIR]
# dist is what boxes are flashed with (Cargo.toml [profile.dist]: fat LTO, stripped).
# --bin-dir packages binaries already built there instead of building them.
# Prints the path of the package it wrote.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
out=target/deb
bin_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --bin-dir) bin_dir=$2; shift 2 ;;
        *) echo "package-deb: unknown argument $1 (use --profile dist|release|debug, --out DIR)" >&2; exit 2 ;;
    esac
done
case "$profile" in
    dist) build=(cargo build --quiet --profile dist -p edgeserve-daemon --bins) ;;
    release) build=(cargo build --quiet --release -p edgeserve-daemon --bins) ;;
    debug) build=(cargo build --quiet -p edgeserve-daemon --bins) ;;
    *) echo "package-deb: --profile must be dist, release or debug" >&2; exit 2 ;;
esac
if [ -n "$bin_dir" ]; then
    bin="$bin_dir"
else
    "${build[@]}"
    bin="target/$profile"
fi
for b in edgeserved edgeserve; do
    [ -x "$bin/$b" ] || { echo "package-deb: $bin/$b is missing" >&2; exit 2; }
done

maintainer="${DEB_MAINTAINER:-edgeserve developers <team@edgeserve.dev>}"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"

install -D -m 0755 "$bin/edgeserved" "$stage/usr/bin/edgeserved"
install -D -m 0755 "$bin/edgeserve" "$stage/usr/bin/edgeserve"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/edgeserved" "$stage/usr/bin/edgeserve"
for unit in edgeserved.service edgeserve-master-key.service edgeserved.socket; do
    install -D -m 0644 "systemd/$unit" "$stage/lib/systemd/system/$unit"
done
install -D -m 0644 systemd/edgeserve.sysusers.conf "$stage/usr/lib/sysusers.d/edgeserve.conf"
install -D -m 0644 systemd/edgeserve.tmpfiles.conf "$stage/usr/lib/tmpfiles.d/edgeserve.conf"
mkdir -p "$stage/lib/udev/rules.d"
"$bin/edgeserve" board udev-rules > "$stage/lib/udev/rules.d/70-edgeserve.rules"
chmod 0644 "$stage/lib/udev/rules.d/70-edgeserve.rules"
# Shell completions and manual pages, generated from the binaries' own clap definitions.
share="$stage/usr/share"
install -d -m 0755 "$share/bash-completion/completions" "$share/zsh/vendor-completions" \
    "$share/fish/vendor_completions.d" "$share/man/man1" "$share/man/man8"
"$bin/edgeserve" completions bash > "$share/bash-completion/completions/edgeserve"
"$bin/edgeserve" completions zsh > "$share/zsh/vendor-completions/_edgeserve"
"$bin/edgeserve" completions fish > "$share/fish/vendor_completions.d/edgeserve.fish"
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
SOURCE_DATE_EPOCH="$epoch" "$bin/edgeserve" man | gzip -9n > "$share/man/man1/edgeserve.1.gz"
SOURCE_DATE_EPOCH="$epoch" "$bin/edgeserved" --print-man | gzip -9n > "$share/man/man8/edgeserved.8.gz"
chmod 0644 "$share/bash-completion/completions/edgeserve" "$share/zsh/vendor-completions/_edgeserve" \
    "$share/fish/vendor_completions.d/edgeserve.fish" "$share/man/man1/edgeserve.1.gz" \
    "$share/man/man8/edgeserved.8.gz"
install -D -m 0644 packaging/edgeserve.toml "$stage/etc/edgeserve/edgeserve.toml"

doc="$stage/usr/share/doc/edgeserve"
install -D -m 0644 README.md "$doc/README.md"
cat > "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: edgeserve

Files: *
Copyright: 2026 the edgeserve developers
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
chmod 0644 "$doc/copyright"
printf 'edgeserve (%s) unstable; urgency=medium\n\n  * Built by scripts/package-deb.sh.\n\n -- %s  %s\n' \
    "$version" "$maintainer" "$(date -R -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" \
    | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
install -D -m 0644 packaging/debian/lintian-overrides "$stage/usr/share/lintian/overrides/edgeserve"

mkdir -p "$stage/DEBIAN"
for script in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$script" "$stage/DEBIAN/$script"
done
echo /etc/edgeserve/edgeserve.toml > "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: edgeserve
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: libc6 (>= 2.34), libgcc-s1, libstdc++6, systemd (>= 247)
Suggests: ocl-icd-libopencl1, pocl-opencl-icd, libxrt1
Section: net
Priority: optional
Homepage: https://localhost/edgeserve
Description: edge inference appliance daemon
 edgeserved loads models onto the box's accelerators (CPU; GPUs through
 OpenCL; Xilinx FPGAs through XRT, both loaded at run time when present) and
 serves scoring to the local network over key-authenticated HTTP(S), with
 blue/green deployments, key rotation and certificate hot reload. edgeserve is
 its operator CLI.
CONTROL

mkdir -p "$out"
package="$out/edgeserve_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$package" >/dev/null
echo "$package"
