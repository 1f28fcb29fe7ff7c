#!/usr/bin/env bash
# Builds the large benchmark image of issue 14 in an OCI layout (default
# target/bench/debian-large), tag "large": Debian bookworm --variant=minbase plus
# build-essential, python3, git, curl and ca-certificates, as ONE gzip layer (about 200 MB
# compressed, 540 MB unpacked), so that the time spent on one large layer shows.
# Needs mmdebstrap (Debian package), root, and the Debian mirror this machine's apt sources
# name (read from them, never written here).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/bench/debian-large}
if [ -f "$OUT/index.json" ] && grep -q '"large"' "$OUT/index.json"; then
  echo "$OUT already prepared"; exit 0
fi
sources=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || true)
MAIN=$(grep -oE 'https?://[^ ]*/debian/?( |$)' <<<"$sources" | head -1 | tr -d ' ')
[ -n "$MAIN" ] || { echo "no Debian mirror in this machine's apt sources" >&2; exit 1; }
W=$(mktemp -d "${TMPDIR:-/var/tmp}/oci-harden-large.XXXXXX")
trap 'rm -rf "$W"' EXIT
mmdebstrap --quiet --variant=minbase --mode=root \
  --include=build-essential,python3,git,curl,ca-certificates \
  bookworm "$W/rootfs.tar" "deb $MAIN bookworm main"
gzip -n -6 "$W/rootfs.tar"
rm -rf "$OUT"
cargo run --quiet --release --example import_rootfs -- "$W/rootfs.tar.gz" "$OUT" large 2025-05-20T00:00:00Z
echo "prepared $OUT (tag: large, $(du -sh "$W/rootfs.tar.gz" | cut -f1) compressed)"
