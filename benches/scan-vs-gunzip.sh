#!/usr/bin/env bash
# Times `oci-harden scan` of the Debian bench image (benches/prepare-debian.sh) against the
# floor of merely decompressing its layers (`gzip -dc` of the blobs to /dev/null), and
# prints the ratio and both peak RSS figures.
# Goals (issue 4): scan <= 1.5x the floor; peak RSS < 128 MiB with a full Debian database.
# The database: the real Debian tracker JSON when given as $1 (a file or URL), else a
# synthetic tracker-shaped file of the same scale (~100k bookworm records: every source
# package of the image with 30 CVEs each, plus 3,300 other packages), since this machine
# has no internet.
# Usage: benches/scan-vs-gunzip.sh [TRACKER_JSON] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
LAYOUT=target/bench/debian
[ -d "$LAYOUT" ] || bash benches/prepare-debian.sh "$LAYOUT"
RUNS=${2:-5}
cargo build --quiet --release --bin oci-harden
BIN=$PWD/target/release/oci-harden
W=$(mktemp -d "${TMPDIR:-/var/tmp}/oci-harden-scan-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT

if [ -n "${1:-}" ]; then
  TRACKER=$1
else
  TRACKER=$W/tracker.json
  "$BIN" export "oci:$LAYOUT:base" - | tar -xOf - var/lib/dpkg/status > "$W/status"
  python3 - "$W/status" "$TRACKER" <<'PY'
import json, re, sys
sources = set()
for stanza in open(sys.argv[1]).read().split("\n\n"):
    m = re.search(r"^Source: (\S+)", stanza, re.M) or re.search(r"^Package: (\S+)", stanza, re.M)
    if m: sources.add(m.group(1))
names = sorted(sources) + [f"synthetic-pkg-{i}" for i in range(3300)]
with open(sys.argv[2], "w") as out:
    out.write("{")
    for n, name in enumerate(names):
        cves = {}
        for k in range(30):
            status = ("resolved", f"{k}.0-1") if k % 3 else ("open", None)
            rel = {"status": status[0], "urgency": ["low", "medium", "high", "unimportant"][k % 4], "repositories": {"bookworm": "1.0-1"}}
            if status[1]: rel["fixed_version"] = status[1]
            cves[f"CVE-2024-{n*30+k:06d}"] = {"description": f"synthetic issue {k} in {name}", "releases": {"bookworm": rel, "bullseye": rel}}
        out.write(("," if n else "") + json.dumps(name) + ":" + json.dumps(cves))
    out.write("}")
PY
fi
"$BIN" db update --db "$W/db" --from "$TRACKER" >/dev/null 2>&1
"$BIN" db info --db "$W/db" | head -3

LAYERS=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(' '.join(sys.argv[2] + '/blobs/' + l['digest'].replace(':','/') for l in m['layers']))" \
  "$LAYOUT/blobs/sha256/$(python3 -c "import json; print([m for m in json.load(open('$LAYOUT/index.json'))['manifests'] if m.get('annotations',{}).get('org.opencontainers.image.ref.name')=='base'][0]['digest'].split(':')[1])")" "$LAYOUT")
ours=() floor=()
for _ in $(seq "$RUNS"); do
  ours+=("$(measure "$BIN" scan --db "$W/db" --format json --output "$W/report.json" "oci:$LAYOUT:base")")
  floor+=("$(measure "cat $LAYERS | gzip -dc > /dev/null")")
done
python3 - "${ours[*]}" "${floor[*]}" "$W/report.json" <<'PY'
import json, statistics, sys
def parse(s):
    xs = s.split(); return statistics.median(float(x) for x in xs[0::2]), max(int(x) for x in xs[1::2]) / 1024
(ot, orss), (ft, frss) = parse(sys.argv[1]), parse(sys.argv[2])
n = sum(len(r.get("Vulnerabilities") or []) for r in json.load(open(sys.argv[3]))["Results"])
print(f"scan of target/bench/debian:base: {n} findings")
print(f"{'':28}{'wall s':>8}{'peak RSS MiB':>14}")
print(f"{'oci-harden scan':28}{ot:8.2f}{orss:14.1f}")
print(f"{'gzip -dc of the layers':28}{ft:8.2f}{frss:14.1f}")
print(f"scan / floor: {ot/ft:.2f}   (goal <= 1.5)   scan peak RSS {orss:.1f} MiB (goal < 128 MiB)")
PY
