#!/usr/bin/env bash
# Builds the Debian package: ${DEB_BUILD_DIR:-build-deb}/evergreen_<version>_<arch>.deb.
# A separate build tree configured for /usr (the unit's ExecStart and the install layout), tests
# and benchmarks off; ccache (when installed) shares objects with ./build. See packaging/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DEB_BUILD_DIR="${DEB_BUILD_DIR:-build-deb}"
JOBS="${JOBS:-$(nproc)}"
LAUNCHER=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(pwd)}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
  LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$DEB_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DCMAKE_INSTALL_PREFIX=/usr -DEVG_BUILD_TESTS=OFF -DEVG_BUILD_BENCH=OFF "${LAUNCHER[@]}" >/dev/null
ninja -C "$DEB_BUILD_DIR" -j "$JOBS"
(cd "$DEB_BUILD_DIR" && rm -f evergreen_*.deb && cpack -G DEB >/dev/null)
ls "$DEB_BUILD_DIR"/evergreen_*.deb
