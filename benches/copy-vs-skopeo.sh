#!/usr/bin/env bash
# Times `oci-harden copy` against `skopeo copy` (../shared/bench/peer-copy.sh) through the same
# loopback CNCF registry, in the same run, on the Debian image from benches/prepare-debian.sh
# (~60 MB compressed): cold pull to a layout, cold push to a new repository, and a repeated
# push where every blob exists. Prints medians, ratios and peak RSS of both.
# Goals (issue 3): cold pull and cold push <= 0.8x skopeo; repeated push no slower than skopeo
# and <= 0.2x our cold push; our peak RSS < 64 MiB.
# Usage: benches/copy-vs-skopeo.sh [LAYOUT:TAG] [RUNS]     (needs docker-registry and skopeo)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
IMG=${1:-target/bench/debian:base}
RUNS=${2:-3}
prepare_image "$IMG"
cargo build --quiet --release --bin oci-harden
BIN=$PWD/target/release/oci-harden
W=$(mktemp -d "${TMPDIR:-/var/tmp}/oci-harden-copy-bench.XXXXXX")
REG_PID=
trap 'kill $REG_PID 2>/dev/null; rm -rf "$W"' EXIT
start_registry "$W/registry"
PEER=$PWD/../shared/bench/peer-copy.sh
[ -x "$PEER" ] || PEER="bash $PEER"
skopeo copy -q --dest-tls-verify=false "oci:$IMG" "docker://$R/library/debian:12"
export DOCKER_CONFIG=$W/docker


# skopeo remembers where it saw blobs (its blob-info cache) and mounts them from there;
# oci-harden remembers the same in its blob cache. A cold push starts with neither.
SKOPEO_CACHE=/var/lib/containers/cache/blob-info-cache-v1.boltdb
[ "$(id -u)" = 0 ] || SKOPEO_CACHE=${XDG_DATA_HOME:-$HOME/.local/share}/containers/cache/blob-info-cache-v1.boltdb
forget() { rm -f "$SKOPEO_CACHE"; }

declare -a ours_pull peer_pull ours_push peer_push ours_again peer_again ours_mount peer_mount
for i in $(seq "$RUNS"); do
  # Cold pull: an empty cache and layout each time.
  forget
  ours_pull+=("$(measure "$BIN" copy --quiet --cache "$W/cache-$i" "$R/library/debian:12" "oci:$W/ours-$i:latest")")
  peer_pull+=("$(measure $PEER pull "$R/library/debian:12" "$W/peer-$i")")
  # Cold push: a new repository, no memory of where the blobs are.
  forget
  ours_push+=("$(measure "$BIN" copy --quiet --cache "$W/empty-$i" "oci:$W/ours-$i:latest" "$R/ours-$i/debian:12")")
  peer_push+=("$(measure $PEER push "$W/peer-$i" "$R/peer-$i/debian:12")")
  # Repeated push: everything exists.
  ours_again+=("$(measure "$BIN" copy --quiet --cache "$W/empty-$i" "oci:$W/ours-$i:latest" "$R/ours-$i/debian:12")")
  peer_again+=("$(measure $PEER push "$W/peer-$i" "$R/peer-$i/debian:12")")
  # Push to another new repository, each tool remembering where it pulled from: mounts.
  ours_mount+=("$(measure "$BIN" copy --quiet --cache "$W/cache-$i" "oci:$W/ours-$i:latest" "$R/ours-m$i/debian:12")")
  $PEER pull "$R/library/debian:12" "$W/peer-m$i"  # let skopeo record where the blobs are
  peer_mount+=("$(measure $PEER push "$W/peer-m$i" "$R/peer-m$i/debian:12")")
done

python3 - "$IMG" "$RUNS" "${ours_pull[*]}" "${peer_pull[*]}" "${ours_push[*]}" "${peer_push[*]}" "${ours_again[*]}" "${peer_again[*]}" "${ours_mount[*]}" "${peer_mount[*]}" <<'PY'
import statistics, sys
img, runs, *series = sys.argv[1:]
def parse(s):
    xs = s.split()
    return statistics.median(float(x) for x in xs[0::2]), max(int(x) for x in xs[1::2]) / 1024
rows = [("cold pull", parse(series[0]), parse(series[1])), ("cold push", parse(series[2]), parse(series[3])),
        ("push again (all exist)", parse(series[4]), parse(series[5])),
        ("push, blobs known (mount)", parse(series[6]), parse(series[7]))]
print(f"image {img}, {runs} runs each, medians; registry: CNCF distribution on loopback")
print(f"{'':26}{'oci-harden s':>13}{'skopeo s':>10}{'ratio':>7}{'our RSS MiB':>13}{'skopeo RSS MiB':>16}")
for name, (ot, orss), (pt, prss) in rows:
    print(f"{name:26}{ot:13.2f}{pt:10.2f}{ot/pt:7.2f}{orss:13.1f}{prss:16.1f}")
print(f"push again / our cold push: {rows[2][1][0] / rows[1][1][0]:.2f}   (goal <= 0.2)")
print("goals: cold pull and cold push ratio <= 0.8; push again ratio <= 1.0; our RSS < 64 MiB")
PY
