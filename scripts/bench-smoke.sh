#!/usr/bin/env bash
# CI smoke run of every benchmark under bench/ with a tiny count, so that a bench cannot rot:
# each must run to completion and exit 0. No timing is asserted (figures: docs/performance.md).
# Each bench is bounded by `timeout` (BENCH_SMOKE_TIMEOUT, default 180 s).
#
# usage: scripts/bench-smoke.sh [BUILD_DIR]     (default: ${BUILD_DIR:-build}, already built)
#        BENCH_SMOKE_ONLY=name,name   runs only those entries (names as printed)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
BUILD="$(cd "${1:-${BUILD_DIR:-build}}" && pwd)"
export EVERGREEN_BUILD_DIR="$BUILD"
PY=/usr/bin/python3
T="${BENCH_SMOKE_TIMEOUT:-180}"
FAILED=()
RAN=0

run() {  # run NAME CMD...
  local name=$1
  shift
  if [ -n "${BENCH_SMOKE_ONLY:-}" ] && [[ ",${BENCH_SMOKE_ONLY}," != *",${name},"* ]]; then
    return
  fi
  echo "== bench smoke: ${name}"
  local t0=$SECONDS
  if timeout "$T" "$@" >"/tmp/evg-bench-smoke.$$.log" 2>&1; then
    echo "   ok (${name}, $((SECONDS - t0)) s)"
  else
    echo "   FAILED (${name}, exit $?): last lines:"
    tail -25 "/tmp/evg-bench-smoke.$$.log" | sed 's/^/   | /'
    FAILED+=("$name")
  fi
  RAN=$((RAN + 1))
  rm -f "/tmp/evg-bench-smoke.$$.log"
}

B="$ROOT/bench"
# Broker: every default scenario + issue 17's 1,000-in-flight shape, a few hundred messages each.
run broker_bench bash "$B/broker_bench.sh" --build "$BUILD" --max-messages 300 --max-seconds 1
run conn_mem_bench "$PY" "$B/conn_mem_bench.py" --build "$BUILD" --clients 5,20 --tls-clients 5
# Lambda benches: a handful of round trips / invokes, one cold start.
LAMBDA=(--build "$BUILD" --round-trips 5 --invokes 5 --cold-runs 1)
run lambda_bench bash "$B/lambda_bench.sh" "${LAMBDA[@]}"
if command -v node >/dev/null 2>&1; then
  run lambda_node_bench "$PY" "$B/lambda_node_bench.py" "${LAMBDA[@]}"
fi
if command -v java >/dev/null 2>&1; then
  run java_bench "$PY" "$B/java_bench.py" "${LAMBDA[@]}"
fi
if command -v cc >/dev/null 2>&1; then
  run c_lambda_bench "$PY" "$B/c_lambda_bench.py" "${LAMBDA[@]}"
fi
run cold_start_bench "$PY" "$B/cold_start_bench.py" --build "$BUILD" --runs 1
run core_mem_bench "$PY" "$B/core_mem_bench.py" --build "$BUILD" --devices 2 --functions 3 --settle 1
run jobs_bench env EVERGREEN_BUILD_DIR="$BUILD" "$PY" "$B/jobs_bench.py" --cores 1,2 --rounds 1
run streammgr_bench env EVERGREEN_BUILD_DIR="$BUILD" "$PY" "$B/streammgr_bench.py" --count 500 --flush-count 50 --latency-count 20 --sdk-count 20
if command -v npx >/dev/null 2>&1; then
  run stream_export_bench "$PY" "$B/stream_export_bench.py" --build "$BUILD" --n 200 --batch 50
fi
run shadow_bench "$PY" "$B/shadow_bench.py" --build "$BUILD" --n 5
run tes_bench "$PY" "$B/tes_bench.py" --build "$BUILD" --n 20 --threads 2 --lifetime 2 --windows 1
run cloud_drain_bench "$PY" "$B/cloud_drain_bench.py" --rtt-ms 2 --messages 50 --window 10
if command -v prometheus >/dev/null 2>&1; then
  run metrics_scrape "$PY" "$B/metrics_scrape.py" "$BUILD/apps/evergreen/evergreen"
fi
# C++ benches (built by scripts/build.sh when their libraries are present).
if [ -x "$BUILD/bench/router_bench" ]; then
  run router_bench "$BUILD/bench/router_bench" --benchmark_min_time=0.01
fi
if [ -x "$BUILD/bench/spool_bench" ]; then
  run spool_bench "$BUILD/bench/spool_bench" --benchmark_min_time=0.01
fi
if [ -x "$BUILD/bench/container_spawn_bench" ]; then
  run container_spawn_bench "$BUILD/bench/container_spawn_bench" 3 /bin/true --no-cgroups
fi

if [ "${#FAILED[@]}" -ne 0 ]; then
  echo "bench smoke: ${#FAILED[@]} of ${RAN} failed: ${FAILED[*]}"
  exit 1
fi
echo "bench smoke: all ${RAN} benches ran"
