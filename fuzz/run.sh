#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer's coverage instrumentation and runs each for
# SECONDS, one after the other: `fuzz/run.sh SECONDS [TARGET...]`. Prints executions and
# the result per target; exits non-zero when any target crashes (the input is kept in
# fuzz/artifacts/TARGET/). Works on stable Rust: the sanitizer-coverage passes are plain
# codegen flags (what cargo-fuzz passes, without AddressSanitizer, which needs nightly and
# which safe Rust does not need), so neither cargo-fuzz nor a nightly toolchain is used.
# The product build never sees these flags: they are set here, for this workspace only.
set -euo pipefail
cd "$(dirname "$0")"
fuzz_dir=$PWD
seconds=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
fixtures=${FIXTURES:-$fuzz_dir/../../shared/fixtures}
host=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$fuzz_dir/target}
# `release` for real runs; CI's smoke uses `smoke` (less optimised, quicker to build).
profile=${FUZZ_PROFILE:-release}

all_targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^oci-harden-fuzz$')
targets=${*:-$all_targets}

# `--target` keeps the flags off build scripts and proc-macros (as cargo-fuzz does).
RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
${RUSTFLAGS:-}" cargo build --profile "$profile" --locked --target "$host" $(printf -- '--bin %s ' $targets)
bin_dir=$CARGO_TARGET_DIR/$host/$profile

# Seeds: the committed ones (fuzz/seeds/TARGET, our own or Apache-2.0, see its README) and,
# when ../shared/fixtures is there, real files read from it at run time (not copied into
# the repository: some are GPL or of unknown licence). Files are prefixed with the mode
# byte a target reads first where it has one.
seed() { # seed TARGET PREFIX FILE...
    local target=$1 prefix=$2 f
    shift 2
    [[ -d corpus-run/$target ]] || return 0
    for f in "$@"; do
        [[ -f $f ]] || continue
        { printf "$prefix"; cat "$f"; } >"corpus-run/$target/fixture-$(basename "$(dirname "$f")")-$(basename "$f")"
    done
}
seed_fixtures() {
    seed rules "" ../crates/hardener/rules/*.toml
    # The machine's own apt lists (real, signed Debian InRelease files), when there are any.
    seed apt_release "" /var/lib/apt/lists/*InRelease
    local F=$fixtures
    [[ -d $F ]] || { echo "note: no fixtures at $F; committed seeds only"; return 0; }
    seed manifest "" "$F"/images/busybox-v2s2/manifest.json "$F"/oci/regclient-testrepo/index.json
    seed config "" "$F"/images/busybox-v2s2/config.json
    seed layout_index "" "$F"/oci/regclient-testrepo/index.json "$F"/oci/ggcr-layout/*/index.json
    seed docker_archive "" "$F"/oci/ggcr-mutate/whiteout_image.tar "$F"/oci/ggcr-mutate/overwritten_file.tar
    seed merged_fs '\000' "$F"/oci/regclient-layers/layer.tar "$F"/oci/regclient-layers/layer-wh.tar
    seed dpkg_status "" "$F"/dpkg/osv-scalibr-dpkg/* "$F"/dpkg/osv-scalibr-dpkg/status.d/foo
    seed apk_installed "" "$F"/dpkg/trivy-apk/installed "$F"/dpkg/alpine-minirootfs-apk-installed/*
    seed advisories "" "$F"/advisories/osv/*.json "$F"/advisories/alpine-secdb/3.20/main/*.json \
        "$F"/advisories/debian-tracker/*.json "$F"/advisories/ubuntu-osv/*.json
    seed trivy_report "" "$F"/advisories/trivy-report/trivy_valid.json
    local v
    for v in dpkg:versions/dpkg-Dpkg_Version.data apk:versions/apk-tools-version.data; do
        [[ -f $F/${v#*:} && -d corpus-run/${v%%:*}_version ]] || continue
        # Three versions a line, as the target reads them.
        grep -v '^#' "$F/${v#*:}" | head -200 | tr ' ' '\n' | grep -v '^[-0-9<>=~!]*$' | paste -d '\n' - - - |
            split -l 3 - "corpus-run/${v%%:*}_version/fixture-"
    done
}

status=0
summary=()
mkdir -p corpus-run artifacts
for target in $targets; do
    rm -rf "corpus-run/$target"
    mkdir -p "corpus-run/$target" "artifacts/$target"
    [[ -d seeds/$target ]] && cp seeds/"$target"/* "corpus-run/$target/" 2>/dev/null || true
done
seed_fixtures
for target in $targets; do
    args=("corpus-run/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=262144
        -artifact_prefix="artifacts/$target/" -print_final_stats=1)
    [[ -f dict/$target.dict ]] && args+=(-dict="dict/$target.dict")
    log=artifacts/$target/last.log
    start=$(date +%s)
    if "$bin_dir/$target" "${args[@]}" >"$log" 2>&1; then
        result=ok
    else
        result="CRASH ($(ls artifacts/"$target" | grep -v last.log | tr '\n' ' '))"
        status=1
        grep -m1 -A5 -E 'panicked|ERROR' "$log" >&2 || tail -20 "$log" >&2
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
    summary+=("$(printf '%-16s %10s execs %6ss  cov %6s  %s' "$target" "${runs:-?}" "$(($(date +%s) - start))" "${cov:-?}" "$result")")
    echo "${summary[-1]}"
done
echo "--- summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit $status
