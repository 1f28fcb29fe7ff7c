# Shared by the benchmark scripts: source it after `cd` to the repository root.

# Prepares the bench image LAYOUT:TAG when its layout is missing: tag "large" (one 200 MB
# layer, issue 14) by benches/prepare-debian-large.sh, the others by benches/prepare-debian.sh.
prepare_image() {
  local layout=${1%:*} tag=${1##*:}
  [ -d "$layout" ] && return 0
  if [ "$tag" = large ]; then bash benches/prepare-debian-large.sh "$layout"; else bash benches/prepare-debian.sh "$layout"; fi
}

# Runs a command; prints "<wall seconds> <peak RSS KiB>" of that command alone. With a
# single argument, the argument is run by the shell (for pipelines).
measure() {
  python3 - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, shell=len(sys.argv) == 2)
print(f"{time.perf_counter() - t:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}

# Starts the CNCF registry on a free loopback port with storage in $1, waits until it
# answers, and sets R=127.0.0.1:PORT and REG_PID. The caller kills $REG_PID on exit.
start_registry() {
  local dir=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$dir"
  cat > "$dir/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $dir/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
YML
  docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
  REG_PID=$!
  R=127.0.0.1:$port
  for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://$R/v2/')" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "the registry did not start: $(cat "$dir/registry.log")" >&2
  return 1
}

# Prints the medians and peak RSS of a patch benchmark and the ratios to the peer:
# patch_results WARM_LABEL PEER_LABEL "OURS" "WARM" "PEER", each a list of `measure` outputs.
patch_results() {
  python3 - "$@" <<'PY'
import statistics, sys
def parse(s):
    xs = s.split(); return statistics.median(float(x) for x in xs[0::2]), max(int(x) for x in xs[1::2]) / 1024
warm_label, peer_label = sys.argv[1:3]
(ot, orss), (wt, wrss), (pt, prss) = (parse(a) for a in sys.argv[3:6])
print(f"{'':40}{'wall s':>8}{'peak RSS MiB':>14}")
print(f"{'oci-harden patch (cold cache)':40}{ot:8.2f}{orss:14.1f}")
print(f"{warm_label:40}{wt:8.2f}{wrss:14.1f}")
print(f"{peer_label:40}{pt:8.2f}{prss:14.1f}")
print(f"ratio cold: {ot/pt:.2f}  warm: {wt/pt:.2f}   (goal <= 0.1)   our peak RSS {max(orss, wrss):.1f} MiB (goal < 64 MiB)")
PY
}
