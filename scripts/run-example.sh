#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds Evergreen and runs the core in the foreground on the
# bundled example group (embedded defaults, no cloud). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
EVG="$(pwd)/build/apps/evergreen/evergreen"
ROOT="${EVERGREEN_ROOT:-$(pwd)/out/example-root}"
mkdir -p "$ROOT/config"
[ -f "$ROOT/config/config.json" ] || cp examples/example-group/config.json "$ROOT/config/config.json"
if [ -x examples/example-group/prepare.sh ]; then
  bash examples/example-group/prepare.sh "$EVG" "$ROOT"
else
  set +e
  "$EVG" deploy --root "$ROOT" examples/example-group/group.json >/dev/null
  rc=$?
  set -e
  [ $rc -eq 0 ] || [ $rc -eq 3 ] || exit $rc
fi
cat <<MSG

Evergreen core starting on $ROOT
  MQTT (mutual TLS) : 0.0.0.0:8883   group CA: $ROOT/certs/group-ca.pem
  MQTT (plaintext)  : 127.0.0.1:1883 (development listener: client id = thing name)
  IPC (v1 SDKs)     : 127.0.0.1:8000

Watch the example group's traffic from another terminal:
  mosquitto_sub -h 127.0.0.1 -p 1883 -i Dashboard -t 'sensors/#' -v
  mosquitto_pub -h 127.0.0.1 -p 1883 -i Sensor -t sensors/kitchen/temperature -m 21.5
Status: $EVG status --root $ROOT        Stop: Ctrl-C
MSG
exec "$EVG" run --root "$ROOT"
