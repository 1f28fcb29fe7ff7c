# Shared by the benchmark scripts: source it after `cd` to the repository root.

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
