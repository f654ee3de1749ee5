#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan, libraries instrumented for coverage) in a
# separate build directory and fuzzes each target for a bounded time, starting from its checked-in
# seed corpus fuzz/corpus/<target minus _fuzz>:
#
#   fuzz/run.sh [seconds per target=20] [extra libFuzzer flags...]
#   EVG_FUZZ_TARGETS="ipc_http_fuzz shadow_fuzz" fuzz/run.sh 60     # a subset
#
# Targets: mqtt_codec_fuzz (MQTT decoder), ipc_http_fuzz (IPC HTTP framing + IpcCore),
# group_json_fuzz (group files), config_json_fuzz (config.json), shadow_fuzz (shadow documents),
# streammgr_frame_fuzz (stream manager framing + CBOR + requests).
# Exit status 0 when no crash/leak/sanitizer error was found within the time budget. New inputs go
# to a temporary directory (the checked-in seed corpora are not modified); crash reproducers are
# written to $EVG_FUZZ_ARTIFACTS (default: build dir). A crash found here becomes a regression
# test beside the code (see fuzz/README.md).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
secs="${1:-20}"
shift || true
build="${EVG_FUZZ_BUILD_DIR:-$root/build-fuzz}"
artifacts="${EVG_FUZZ_ARTIFACTS:-$build/artifacts}"
targets="${EVG_FUZZ_TARGETS:-mqtt_codec_fuzz ipc_http_fuzz group_json_fuzz config_json_fuzz shadow_fuzz streammgr_frame_fuzz}"
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

cmake -S "$root" -B "$build" -G Ninja \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEVG_BUILD_FUZZ=ON -DEVG_BUILD_TESTS=OFF -DEVG_BUILD_BENCH=OFF \
  -DCMAKE_C_FLAGS="$san" -DCMAKE_CXX_FLAGS="$san" >/dev/null
# shellcheck disable=SC2086
ninja -C "$build" -j "${JOBS:-2}" $targets

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
for t in $targets; do
  corpus="$here/corpus/${t%_fuzz}"
  mkdir -p "$work/$t"
  echo "== fuzz $t (${secs}s, seeds: ${corpus#"$root"/})"
  "$build/fuzz/$t" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=8192 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$t-" "$work/$t" "$corpus" "$@" \
    2>"$work/$t.log" || { tail -n 60 "$work/$t.log"; echo "fuzz $t FAILED"; exit 1; }
  grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$work/$t.log" | tr '\n' ' '
  echo
done
