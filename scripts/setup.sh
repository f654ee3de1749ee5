#!/usr/bin/env bash
# Idempotent: installs every Debian package Evergreen needs to build, run and test.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git ccache libarchive-dev zlib1g-dev
  libboost-dev libboost-system-dev nlohmann-json3-dev libssl-dev libsqlite3-dev openssl
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  clang clang-format libclang-rt-dev
  mosquitto mosquitto-clients libmosquitto-dev python3 python3-pytest python3-paho-mqtt python3-boto3
  python3-cbor2
  nodejs npm default-jdk-headless
  libsystemd-dev systemd dpkg-dev adduser prometheus
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from elsewhere on the image; accept any working node.
if command -v node >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
if command -v javac >/dev/null 2>&1; then missing=("${missing[@]/default-jdk-headless}"); fi
clean=()
for p in "${missing[@]}"; do [ -n "$p" ] && clean+=("$p"); done
if [ ${#clean[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${clean[@]}"
fi
# libsystemd-dev: sd_notify for the unit; systemd: systemd-analyze verify; dpkg-dev: dpkg-shlibdeps
# for the .deb (scripts/package.sh); prometheus: promtool (tests parse /metrics with it).
# The distro mosquitto service must not hold 1883/8883 during tests.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
  systemctl stop mosquitto || true
fi
# Only promtool is needed from the prometheus package: its server must not run.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl disable --now prometheus || true
fi
# v1's installer set up ggc_user/ggc_group (system user and group, no login shell, no home):
# functions without RunAs run as them, on every real v1 host; CI runs the suite that way too.
if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  getent group ggc_group >/dev/null || $SUDO groupadd --system ggc_group
  getent passwd ggc_user >/dev/null || $SUDO useradd --system --gid ggc_group --no-create-home \
    --home-dir /nonexistent --shell /usr/sbin/nologin ggc_user
fi
echo "setup: all packages present"
