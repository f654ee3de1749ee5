#!/usr/bin/env bash
# Lambda function benchmarks (bench/lambda_bench.py) with a hard time bound; markdown table on
# stdout. Builds the evergreen binary first if it is missing. See docs/performance.md.
#
# usage: bench/lambda_bench.sh [--build DIR] [lambda_bench.py options: --round-trips N
#                              --invokes N --cold-runs N --scenarios echo,invoke,cold --out FILE]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${EVERGREEN_BUILD_DIR:-${REPO}/build}"
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
if [ ! -x "${BUILD}/apps/evergreen/evergreen" ]; then
  echo "lambda_bench: building evergreen in ${BUILD}" >&2
  if [ ! -f "${BUILD}/CMakeCache.txt" ]; then
    cmake -S "$REPO" -B "$BUILD" -G Ninja >&2
  fi
  cmake --build "$BUILD" --target evergreen -j 2 >&2
fi
[ -x /usr/bin/python3 ] || { echo "lambda_bench: /usr/bin/python3 missing" >&2; exit 1; }
exec timeout 300 /usr/bin/python3 "${REPO}/bench/lambda_bench.py" --build "$BUILD" ${ARGS[@]+"${ARGS[@]}"}
