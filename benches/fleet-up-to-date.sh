#!/usr/bin/env bash
# What a scheduled fleet run costs when nothing changed (issue 12): `oci-harden batch` over
# 50 small images whose hardened copies are already current, on the loopback CNCF registry,
# through a counting HTTP proxy. Prints the wall time of the batch (median of RUNS) and per
# job, and the registry requests per job.
# Goal: under 50 ms and at most 3 requests per up-to-date job.
# Usage: benches/fleet-up-to-date.sh [JOBS] [RUNS] [PARALLEL]   (needs docker-registry, skopeo)
# OCI_HARDEN_BIN=PATH measures that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
JOBS=${1:-50}
RUNS=${2:-5}
PARALLEL=${3:-8}
if [ -n "${OCI_HARDEN_BIN:-}" ]; then
  BIN=$OCI_HARDEN_BIN
else
  cargo build --quiet --release --bin oci-harden
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/oci-harden
fi
W=$(mktemp -d "${TMPDIR:-/var/tmp}/oci-harden-fleet-bench.XXXXXX")
REG_PID= PROXY_PID=
trap 'kill $REG_PID $PROXY_PID 2>/dev/null; rm -rf "$W"' EXIT
start_registry "$W/registry"
export DOCKER_CONFIG=$W/docker XDG_CACHE_HOME=$W/xdg OCI_HARDEN_CACHE=$W/cache

# A counting proxy: forwards each request to the registry (keeping its Host header, so the
# registry's Location headers name the proxy) and appends "METHOD PATH" to a log.
PPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$R" "$PPORT" "$W/requests.log" <<'PY' &
import http.client, http.server, socketserver, sys, threading
upstream, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def forward(self):
        with lock, open(log, "a") as f:
            f.write(f"{self.command} {self.path}\n")
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        c = http.client.HTTPConnection(upstream)
        c.request(self.command, self.path, body=body, headers={k: v for k, v in self.headers.items()})
        r = c.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
Server(("127.0.0.1", port), Proxy).serve_forever()
PY
PROXY_PID=$!
P=127.0.0.1:$PPORT
for _ in $(seq 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://$P/v2/')" 2>/dev/null && break
  sleep 0.1
done

# JOBS small images (one layer each, its own /etc/motd) in a layout, pushed as src/imgN:1.
python3 - "$W/images" "$JOBS" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
root, n = sys.argv[1], int(sys.argv[2])
os.makedirs(f"{root}/blobs/sha256")
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{root}/blobs/sha256/{d}", "wb").write(data)
    return f"sha256:{d}", len(data)
tags = []
for i in range(n):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as t:
        d = tarfile.TarInfo("etc"); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
        body = f"image {i}\n".encode()
        f = tarfile.TarInfo("etc/motd"); f.size = len(body); f.mode = 0o644; t.addfile(f, io.BytesIO(body))
    tar = raw.getvalue()
    layer, lsize = blob(gzip.compress(tar, mtime=0))
    config = json.dumps({"created": "2024-01-01T00:00:00Z", "architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest()]}}).encode()
    cd, cs = blob(config)
    m = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": lsize}]}).encode()
    md, ms = blob(m)
    tags.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
                 "annotations": {"org.opencontainers.image.ref.name": f"img{i}"}})
open(f"{root}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
open(f"{root}/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": tags}))
PY
for i in $(seq 0 $((JOBS - 1))); do
  skopeo copy -q --dest-tls-verify=false "oci:$W/images:img$i" "docker://$R/src/img$i:1"
done
{
  echo '[defaults]'
  echo 'rules = "builtin:baseline"'
  for i in $(seq 0 $((JOBS - 1))); do
    printf '[[image]]\nsrc = "%s/src/img%d:1"\ndst = "%s/hardened/img%d:1"\n' "$P" "$i" "$P" "$i"
  done
} > "$W/fleet.toml"

# The first run hardens and pushes everything; the measured runs find all up to date.
"$BIN" batch "$W/fleet.toml" --jobs "$PARALLEL" --report "$W/first.json" >/dev/null 2>&1
declare -a times
for i in $(seq "$RUNS"); do
  : > "$W/requests.log"
  times+=("$(measure "$BIN" batch "$W/fleet.toml" --jobs "$PARALLEL" --report "$W/run.json")")
  python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['summary']; assert s['upToDate']==s['jobs']==$JOBS, s" "$W/run.json"
  cp "$W/requests.log" "$W/requests-$i.log"
done

# The same batch straight to the registry (no proxy in between), for the proxy's share.
sed "s#$P/#$R/#g" "$W/fleet.toml" > "$W/direct.toml"
declare -a direct
for i in $(seq "$RUNS"); do
  direct+=("$(measure "$BIN" batch "$W/direct.toml" --jobs "$PARALLEL" --report "$W/direct.json")")
  python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['summary']; assert s['upToDate']==s['jobs']==$JOBS, s" "$W/direct.json"
done

python3 - "$JOBS" "$RUNS" "$PARALLEL" "$W" "${times[*]}" "${direct[*]}" <<'PY'
import collections, statistics, sys
jobs, runs, parallel, w, series = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5].split()
wall = [float(x) for x in series[0::2]]
rss = max(int(x) for x in series[1::2]) / 1024
requests = [open(f"{w}/requests-{i}.log").read().splitlines() for i in range(1, runs + 1)]
kinds = collections.Counter()
for line in requests[-1]:
    method, path = line.split(" ", 1)
    kind = "ping" if path.rstrip("/") == "/v2" else "manifest" if "/manifests/" in path else "blob" if "/blobs/" in path else "other"
    kinds[f"{method} {kind}"] += 1
per_job = max(len(r) for r in requests) / jobs
t = statistics.median(wall)
print(f"{jobs} up-to-date jobs in one batch (--jobs {parallel}), {runs} runs, median; CNCF registry on loopback")
print(f"batch wall time: {t:.3f} s (min {min(wall):.3f}, max {max(wall):.3f}); peak RSS {rss:.1f} MiB")
print(f"per job: {1000 * t / jobs:.1f} ms wall; {per_job:.2f} requests (most of any run)")
print(f"requests of the last run: {dict(kinds)}")
d = statistics.median(float(x) for x in sys.argv[6].split()[0::2])
print(f"without the counting proxy: {d:.3f} s, {1000 * d / jobs:.1f} ms per job")
print("goal: under 50 ms and at most 3 requests per up-to-date job")
PY
