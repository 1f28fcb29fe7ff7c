#!/usr/bin/env bash
# Builds the benchmark images in an OCI layout (default target/bench/debian):
#   tag "base":  Debian bookworm --variant=minbase as one gzip layer (~60 MB compressed, ~170 MB unpacked)
#   tag "multi": the same plus a second layer made by umoci that deletes docs, man pages and
#                locales (whiteouts), changes modes and adds files: a realistic multi-layer image.
# Needs mmdebstrap and umoci (Debian packages) and reaches the Debian mirror. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/bench/debian}
if [ -f "$OUT/index.json" ] && grep -q '"multi"' "$OUT/index.json"; then
  echo "$OUT already prepared"; exit 0
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mmdebstrap --quiet --variant=minbase --mode=root bookworm "$W/rootfs.tar"
gzip -n -6 "$W/rootfs.tar"
rm -rf "$OUT"
cargo run --quiet --release --example import_rootfs -- "$W/rootfs.tar.gz" "$OUT" base 2025-05-20T00:00:00Z
umoci unpack --image "$OUT:base" "$W/bundle" >/dev/null
R=$W/bundle/rootfs
rm -rf "$R/usr/share/doc" "$R/usr/share/man" "$R/usr/share/locale" "$R/var/lib/apt/lists"
chmod u-s "$R/usr/bin/passwd" "$R/usr/bin/chsh"
printf 'hardened\n' > "$R/etc/motd"
mkdir -p "$R/opt/app" && head -c 8388608 /dev/urandom > "$R/opt/app/data.bin"
umoci repack --image "$OUT:multi" "$W/bundle" >/dev/null
echo "prepared $OUT (tags: base, multi)"
