#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, libraries instrumented for coverage) in a
# separate build directory and fuzzes the MQTT codec, starting from fuzz/corpus/mqtt_codec.
#
#   fuzz/run.sh [seconds=60] [extra libFuzzer flags...]
#
# Exit status 0 when no crash/leak/sanitizer error was found within the time budget. New inputs go
# to a temporary directory (the checked-in seed corpus is not modified); crash reproducers are
# written to $EVG_FUZZ_ARTIFACTS (default: build dir).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
secs="${1:-60}"
shift || true
build="${EVG_FUZZ_BUILD_DIR:-$root/build-fuzz}"
artifacts="${EVG_FUZZ_ARTIFACTS:-$build/artifacts}"
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"

cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEVG_BUILD_FUZZ=ON -DEVG_BUILD_TESTS=OFF -DEVG_BUILD_BENCH=OFF \
  -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" >/dev/null
ninja -C "$build" -j2 mqtt_codec_fuzz

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
"$build/fuzz/mqtt_codec_fuzz" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=8192 \
  -artifact_prefix="$artifacts/" "$work" "$here/corpus/mqtt_codec" "$@"
