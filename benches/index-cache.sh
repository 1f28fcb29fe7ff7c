#!/usr/bin/env bash
# Cold vs warm (layer index cache filled) wall time of the commands that build the merged
# filesystem, on the bench Debian images: `base` (one 60 MB gzip layer) and `multi` (three
# layers) of benches/prepare-debian.sh, `large` (one 190 MB layer, 540 MB unpacked) of
# benches/prepare-debian-large.sh. Cold = --no-index-cache (every layer read in full);
# warm = the same command after one run filled the index cache. Also re-hardening a
# hardened image with another rule set (it starts again from the recorded base).
# Goals (issue 14): warm check and scan <= 0.2x cold; re-harden with changed rules <= 0.3x.
# Last run (`bash benches/index-cache.sh 3`, 2 cores, idle), cold / warm s (ratio):
#   ls       base 0.38 / 0.03 (0.07), multi 0.43 / 0.03 (0.06), large 1.29 / 0.05 (0.04)
#   check    base 0.76 / 0.04 (0.06), multi 0.84 / 0.04 (0.04), large 2.49 / 0.08 (0.03)  goal met
#   scan     base 0.41 / 0.03 (0.07), multi 0.39 / 0.03 (0.08), large 1.31 / 0.06 (0.04)  goal met
#   harden   base 0.94 / 0.15 (0.16), multi 0.95 / 0.15 (0.16), large 3.33 / 0.35 (0.10)
#   re-harden (other rules) base 0.50 / 0.13 (0.27), multi 0.51 / 0.14 (0.28),
#            large 1.96 / 0.33 (0.17)                                              goal met
# Peak RSS 13.7-26.9 MiB throughout. Before: re-harden 0.34 (base, multi): the base blob
# copied into the destination was hashed twice (a verifying reader and the blob writer);
# now once, as it is written.
# Usage: benches/index-cache.sh [RUNS] [LAYOUT:TAG...]   (default: the base, multi and large
#   bench images; the large one, one 200 MB layer, made by benches/prepare-debian-large.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
RUNS=${1:-5}
shift || true
IMAGES=("$@")
[ ${#IMAGES[@]} -gt 0 ] || IMAGES=(target/bench/debian:base target/bench/debian:multi target/bench/debian-large:large)
for img in "${IMAGES[@]}"; do prepare_image "$img"; done
cargo build --quiet --release --bin oci-harden
BIN=$PWD/target/release/oci-harden
W=$(mktemp -d "${TMPDIR:-/var/tmp}/oci-harden-index-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
C=$W/cache

# A small advisory database naming the image's source packages (scan needs one).
"$BIN" export "oci:${IMAGES[0]}" - | tar -xOf - var/lib/dpkg/status > "$W/status"
python3 - "$W/status" "$W/tracker.json" <<'PY'
import json, re, sys
names = sorted({(re.search(r"^Source: (\S+)", s, re.M) or re.search(r"^Package: (\S+)", s, re.M)).group(1)
                for s in open(sys.argv[1]).read().split("\n\n") if "Package:" in s})
rel = {"status": "resolved", "fixed_version": "99.0-1", "urgency": "high", "repositories": {"bookworm": "1.0-1"}}
json.dump({n: {f"CVE-2026-{i:05d}": {"description": "synthetic", "releases": {"bookworm": rel}}}
           for i, n in enumerate(names)}, open(sys.argv[2], "w"))
PY
"$BIN" db update --db "$W/db" --from "$W/tracker.json" >/dev/null 2>&1
cp benches/peer-rules.toml "$W/other.toml"

row() { # row LABEL COLD... -- WARM...
  python3 - "$@" <<'PY'
import statistics, sys
label, rest = sys.argv[1], sys.argv[2:]
i = rest.index("--")
cold, warm = (statistics.median(float(x) for x in xs[0::2]) for xs in (rest[:i], rest[i + 1:]))
peak = max(int(x) for x in (rest[:i] + rest[i + 1:])[1::2]) / 1024
print(f"{label:44}{cold:8.2f}{warm:8.2f}{warm / cold:8.2f}{peak:10.1f}")
PY
}
printf '%-44s%8s%8s%8s%10s\n' "" "cold s" "warm s" "ratio" "RSS MiB"
for img in "${IMAGES[@]}"; do
  tag=${img##*:}
  SRC="oci:$img"
  "$BIN" harden -q --cache "$C" --rules builtin:strict "$SRC" "oci:$W/h:$tag" >/dev/null
  for cmd in "ls" "check --rules builtin:strict" "scan --db $W/db --format json" \
             "harden --rules builtin:strict -q" "harden --rules $W/other.toml -q"; do
    src=$SRC label="$cmd $tag"
    # Re-hardening: the hardened image with another rule set starts from its base.
    case "$cmd" in *other.toml*) src="oci:$W/h:$tag" label="re-harden (other rules) $tag" ;; esac
    # A new destination each run (one holding the result already is "up to date"), removed
    # after it (not timed), and `sync` before each run: a run neither waits for an earlier
    # run's bytes to reach the disk nor writes into a page cache that earlier runs' outputs
    # filled (with gigabytes of them left, writing a 190 MB layer took 0.6 s of kernel time
    # instead of 0.1).
    dest() { case "$cmd" in harden*) echo "oci:$W/out:$tag" ;; esac; }
    # shellcheck disable=SC2086
    "$BIN" $cmd --cache "$C" "$src" $(dest) >/dev/null 2>&1 || true # fills the index
    cold=() warm=()
    for _ in $(seq "$RUNS"); do
      rm -rf "$W/out"; sync
      # shellcheck disable=SC2086
      cold+=($(measure "$BIN" $cmd --no-index-cache --cache "$C" "$src" $(dest)))
      rm -rf "$W/out"; sync
      # shellcheck disable=SC2086
      warm+=($(measure "$BIN" $cmd --cache "$C" "$src" $(dest)))
    done
    rm -rf "$W/out"
    row "${label/$W\//}" "${cold[@]}" -- "${warm[@]}"
  done
done
