#!/usr/bin/env bash
# Times `oci-harden patch` against the seed's own daemonless way of patching
# (../shared/bench/peer-patch.sh: skopeo copy -> umoci unpack -> chroot apt-get update +
# install --only-upgrade -> umoci repack -> skopeo copy), registry to registry through the
# same loopback CNCF registry, on the same image, from the same Debian mirror (the one this
# machine's apt sources name), in the same run. The image: bookworm minbase + openssl
# built by mmdebstrap from the main suite only, its own sources naming the security suite
# too, so the security suite has newer packages for it. Both upgrade the same packages
# (those `patch --upgrade all --dry-run` plans). Prints medians, the ratio and peak RSS;
# cold (an empty blob cache each run, like the peer) and warm (.debs cached).
# Goals (issue 9): <= 0.1x the peer's wall time; our peak RSS < 64 MiB.
# Last runs (`bash benches/patch-vs-peer.sh 3`, 18 packages incl. perl and tzdata, the
# 2-core machine otherwise idle; two runs an hour apart): ours 2.21 / 2.41 s cold, 1.33 /
# 1.44 s warm, peer 17.11 / 17.38 s -> ratio 0.13 / 0.14 cold, 0.08 warm (goal <= 0.1: met
# warm, NOT met cold); our peak RSS 56.7 / 58.5 MiB (peer 97.9 MiB). The spread between runs
# is as large as the last changes: side by side (old and new binary alternating, 4 runs
# each) the layers read while they download and the path owners index gave 2.26 -> 2.20 s.
# Before this round: 2.72 / 1.44 s (0.15 / 0.08). What changed: the Packages.xz of
# bookworm main (two 24 MiB xz blocks) is decompressed one block a core (0.7 -> 0.4 s); the
# base layer is indexed while it downloads; the .debs' data archives are decompressed
# largest first; placing files looks their owners up in one index. Where a cold run's time
# goes now (perf, 2.3 s in all): pull and index of the 65 MB base layer 0.55 s (gzip inflate
# on one core, the bound); Packages 0.4 s; .deb downloads 0.1 s; .deb data 0.45 s (both
# cores); placing files and the database 0.15 s (one core); the 80 MB patch layer gzipped
# 0.6 s (both cores); push 0.1 s. Each phase needs the one before it (sources and keys come
# from the image, the layer's entries are sorted).
# Usage: benches/patch-vs-peer.sh [RUNS]     (needs root, mmdebstrap, skopeo, umoci)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
RUNS=${1:-3}
cargo build --quiet --release --bin oci-harden
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/oci-harden
PEER=$PWD/../shared/bench/peer-patch.sh
W=$(mktemp -d "${TMPDIR:-/var/tmp}/oci-harden-patch-bench.XXXXXX")
REG_PID=
trap 'kill $REG_PID 2>/dev/null; rm -rf "$W"' EXIT

# The mirror this machine's apt uses (never written into the repository).
sources=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || true)
MAIN=$(grep -oE 'https?://[^ ]*/debian/?( |$)' <<<"$sources" | head -1 | tr -d ' ')
SECURITY=$(grep -oE 'https?://[^ ]*/debian-security/?( |$)' <<<"$sources" | head -1 | tr -d ' ')
[ -n "$MAIN" ] && [ -n "$SECURITY" ] || { echo "no Debian mirror in this machine's apt sources" >&2; exit 1; }
KEY=/usr/share/keyrings/debian-archive-keyring.gpg
mmdebstrap --quiet --variant=minbase --mode=root --include=openssl,ca-certificates \
  --customize-hook="printf 'deb [signed-by=$KEY] $MAIN bookworm main\ndeb [signed-by=$KEY] $SECURITY bookworm-security main\n' > \"\$1/etc/apt/sources.list\"" \
  bookworm "$W/rootfs.tar" "deb $MAIN bookworm main"
umoci init --layout "$W/layout" >/dev/null
umoci new --image "$W/layout:old" >/dev/null
umoci raw add-layer --image "$W/layout:old" "$W/rootfs.tar" >/dev/null
start_registry "$W/registry"
skopeo copy -q --dest-tls-verify=false "oci:$W/layout:old" "docker://$R/lab/bookworm:old"
export DOCKER_CONFIG=$W/docker

PKGS=$("$BIN" patch --cache "$W/plan-cache" --upgrade all --dry-run "$R/lab/bookworm:old" | sed -n 's/^  \([^:]*\):[^ ]* .* → .*/\1/p' | sort -u)
[ -n "$PKGS" ] || { echo "the security suite has nothing newer for this image today: nothing to compare" >&2; exit 1; }
echo "packages upgraded by both: $(echo $PKGS)"
LIST=$(echo $PKGS | tr ' ' ',')

ours=() warm=() peer=()
for i in $(seq "$RUNS"); do
  ours+=("$(measure "$BIN" patch -q --scripts warn --cache "$W/cache-$i" --packages "$LIST" "$R/lab/bookworm:old" "$R/ours-$i/bookworm:patched")")
  warm+=("$(measure "$BIN" patch -q --scripts warn --cache "$W/cache-$i" --packages "$LIST" "$R/lab/bookworm:old" "$R/warm-$i/bookworm:patched")")
  peer+=("$(measure bash "$PEER" "$R/lab/bookworm:old" "$R/peer-$i/bookworm:patched" $PKGS)")
done
patch_results "oci-harden patch (.debs cached)" "peer (skopeo+umoci+chroot apt-get)" "${ours[*]}" "${warm[*]}" "${peer[*]}"
