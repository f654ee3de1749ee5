#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds everything and runs every test:
# unit tests (CTest/GoogleTest), black-box tests against the real daemon with real clients
# (pytest: mosquitto_pub/sub, paho-mqtt), the Python runtime tests, and a bounded fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
bash scripts/setup.sh
BUILD_DIR="${BUILD_DIR:-build}" bash scripts/build.sh
export EVERGREEN_BUILD_DIR="$ROOT/${BUILD_DIR:-build}"

echo "== unit tests (ctest)"
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j 2

echo "== black-box integration tests (pytest; the runtime tests ran under ctest)"
# The real Debian interpreter: the python3 first on PATH may be a shim without pytest/paho.
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration

echo "== README command 1 (scripts/run-example.sh) smoke test"
bash scripts/smoke-example.sh

echo "== benchmark smoke run (tiny counts, no timing asserted)"
bash scripts/bench-smoke.sh "${BUILD_DIR:-build}"

if [ -x fuzz/run.sh ]; then
  echo "== fuzz (bounded)"
  bash fuzz/run.sh "${FUZZ_SECONDS:-20}"  # seconds per target (6 targets)
fi
echo "== all tests passed"
