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
  bash examples/example-group/prepare.sh "$EVG" "$ROOT" "$(pwd)/build"
else
  set +e
  "$EVG" deploy --root "$ROOT" examples/example-group/group.json >/dev/null
  rc=$?
  set -e
  [ $rc -eq 0 ] || [ $rc -eq 3 ] || exit $rc
fi
# Ports as configured (a config.json already in the root wins over the example's).
port() { /usr/bin/python3 -c 'import json,sys
c=json.load(open(sys.argv[1])); k=sys.argv[2].split(".")
v=c
for x in k: v=v.get(x, {}) if isinstance(v, dict) else {}
print(v if isinstance(v, int) else sys.argv[3])' "$ROOT/config/config.json" "$1" "$2"; }
TLS_PORT="$(port coreThing.ggMqttPort 8883)"
MQTT_PORT="$(port evergreen.mqtt.plaintextPort 1883)"
IPC_PORT="$(port coreThing.ggDaemonPort 8000)"
cat <<MSG

Evergreen core starting on $ROOT
  MQTT (mutual TLS) : 0.0.0.0:$TLS_PORT   group CA: $ROOT/certs/group-ca.pem
  MQTT (plaintext)  : 127.0.0.1:$MQTT_PORT (development listener: client id = thing name)
  IPC (v1 SDKs)     : 127.0.0.1:$IPC_PORT

Watch the example group's traffic from another terminal (the Dashboard device):
  mosquitto_sub -h 127.0.0.1 -p $MQTT_PORT -i Dashboard -t 'sensors/#' -t test/topic_results -t 'hello/#' -t echo/out -t example/shadow/result -t '\$aws/things/ExampleLamp/shadow/#' -v
Then act as the Sensor device:
  mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -i Sensor -t test/input_message -m '{"test-key": "Some string value"}'
      -> SeedExample (the developer guide's function) publishes on test/topic_results
  mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -i Sensor -t echo/in -m '{"hello": 1}'    -> Echo (on-demand) on echo/out
  mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -i Sensor -t sensors/kitchen/temperature -m 21.5   -> device to device
  mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -i Sensor -t hello/node/in -m '{"name": "Evergreen"}'  -> NodeHello (Node.js)
  mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -i Sensor -t hello/java/in -m '{"x": 1}'   -> JavaHello (Java) on hello/world/java
  mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -i Sensor -t hello/c/in -m 'bytes'         -> CHello (C executable) on hello/c/out
  mosquitto_pub -h 127.0.0.1 -p $MQTT_PORT -i Sensor -t example/shadow/in -m '{"on": true}'
      -> ShadowDemo updates the local shadow of ExampleLamp and reports on example/shadow/result
  HelloWorld (pinned) publishes on hello/world every 5 s; -t hello/world/ping asks it for its count.
Status: $EVG status --root $ROOT        Stop: Ctrl-C
MSG
exec "$EVG" run --root "$ROOT"
