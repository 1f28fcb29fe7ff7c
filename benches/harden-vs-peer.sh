#!/usr/bin/env bash
# Times `oci-harden harden` against the hand-made daemonless pipeline it replaces
# (../shared/bench/peer-harden.sh: skopeo copy -> umoci unpack -> shell -> umoci repack ->
# umoci config -> skopeo copy), registry to registry through the same loopback CNCF
# registry, on the same Debian image (benches/prepare-debian.sh), in the same run, with the
# equivalent rule set (benches/peer-rules.toml). Prints medians, the ratio and peak RSS.
# Goals (issue 5): <= 0.2x the peer's wall time; our peak RSS < 64 MiB. (Issue 14 asks
# <= 0.05x.) Last runs (`bash benches/harden-vs-peer.sh target/bench/debian:base 3`, and
# `:multi`), cold cache: base 0.56 s vs 7.39 s (0.08x), multi 0.57 vs 6.82 s (0.08x), peak
# RSS 25-26 MiB; an hour before, with a faster peer, 0.58 vs 4.66 (0.12x) and 0.61 vs 5.99
# (0.10x). Side by side with the binary before the layers were read while they download
# (alternating, 3 runs each): 0.56 -> 0.49 s. What is left is the pull and the index pass of
# the 65 MB layer (inflate on one core, 0.4 s): 0.05x would need less than that.
# This session (`... target/bench/debian:base 3`, `... target/bench/debian-large:large 3`):
# base 0.49 vs 6.95 s (0.07x), large 1.53 vs 12.35 s (0.12x), peak RSS 26 / 32 MiB.
# Usage: benches/harden-vs-peer.sh [LAYOUT:TAG] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
IMG=${1:-target/bench/debian:base}
RUNS=${2:-3}
prepare_image "$IMG"
cargo build --quiet --release --bin oci-harden
BIN=$PWD/target/release/oci-harden
PEER=$PWD/../shared/bench/peer-harden.sh
W=$(mktemp -d "${TMPDIR:-/var/tmp}/oci-harden-harden-bench.XXXXXX")
REG_PID=
trap 'kill $REG_PID 2>/dev/null; rm -rf "$W"' EXIT
start_registry "$W/registry"
skopeo copy -q --dest-tls-verify=false "oci:$IMG" "docker://$R/library/debian:12"
export DOCKER_CONFIG=$W/docker


ours=() peer=()
for i in $(seq "$RUNS"); do
  # Cold: an empty blob cache each run.
  ours+=("$(measure "$BIN" harden -q --cache "$W/cache-$i" --rules benches/peer-rules.toml "$R/library/debian:12" "$R/ours-$i/debian:12-hardened")")
  peer+=("$(measure bash "$PEER" "$R/library/debian:12" "$R/peer-$i/debian:12-hardened")")
done
python3 - "${ours[*]}" "${peer[*]}" <<'PY'
import statistics, sys
def parse(s):
    xs = s.split(); return statistics.median(float(x) for x in xs[0::2]), max(int(x) for x in xs[1::2]) / 1024
(ot, orss), (pt, prss) = parse(sys.argv[1]), parse(sys.argv[2])
print(f"{'':34}{'wall s':>8}{'peak RSS MiB':>14}")
print(f"{'oci-harden harden':34}{ot:8.2f}{orss:14.1f}")
print(f"{'peer (skopeo+umoci+shell)':34}{pt:8.2f}{prss:14.1f}")
print(f"ratio: {ot/pt:.2f}   (goal <= 0.2)   our peak RSS {orss:.1f} MiB (goal < 64 MiB)")
PY
