#!/usr/bin/env bash
# CI smoke test of README command 1 (`bash scripts/run-example.sh`): starts it in the background
# on a fresh root in a 0700 temp dir, waits until the core answers `evergreen status`, drives the
# seed example with real clients (mosquitto_sub as the Dashboard device, mosquitto_pub as the
# Sensor device), then stops it with SIGINT (Ctrl-C) and checks that it exits cleanly.
# The root gets the example's config.json with free loopback ports (run-example keeps a
# config.json already in the root), so a busy 1883/8883/8000 does not matter; set
# SMOKE_DEFAULT_PORTS=1 to run on the example's own ports (it then fails, saying which port is
# busy, when one is). Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC="$(pwd)"
EVG="$SRC/build/apps/evergreen/evergreen"
PY=/usr/bin/python3
START_BOUND_S="${SMOKE_START_SECONDS:-600}"  # includes setup.sh and an incremental build
TMP="$(mktemp -d)"
ROOT="$TMP/root"
PID=""
fail() {
  echo "smoke-example: FAIL: $*" >&2
  echo "---- run-example output (last 60 lines) ----" >&2
  tail -n 60 "$TMP/run.log" >&2 || true
  exit 1
}
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    sleep 2
    kill -KILL "$PID" 2>/dev/null || true
  fi
  jobs -p | xargs -r kill 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

port_free() {
  $PY -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
}
mkdir -p "$ROOT/config"
if [ "${SMOKE_DEFAULT_PORTS:-0}" = 1 ]; then
  for p in 1883 8883 8000; do
    port_free "$p" || fail "port $p is busy (run-example uses 1883, 8883 and 8000); free it or run without SMOKE_DEFAULT_PORTS=1"
  done
  MQTT_PORT=1883
else
  read -r MQTT_PORT TLS_PORT IPC_PORT < <($PY -c 'import socket
ss=[socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
  $PY - "$SRC/examples/example-group/config.json" "$ROOT/config/config.json" \
    "$MQTT_PORT" "$TLS_PORT" "$IPC_PORT" <<'EOF'
import json, sys
src, dst, mqtt, tls, ipc = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
c = json.load(open(src))
c["coreThing"]["ggMqttPort"] = tls
c["coreThing"]["ggDaemonPort"] = ipc
c["evergreen"]["mqtt"]["plaintextPort"] = mqtt
c["evergreen"]["mqtt"]["bindAddress"] = "127.0.0.1"
json.dump(c, open(dst, "w"), indent=2)
EOF
fi

echo "smoke-example: starting run-example.sh on $ROOT (MQTT 127.0.0.1:$MQTT_PORT)"
EVERGREEN_ROOT="$ROOT" bash scripts/run-example.sh >"$TMP/run.log" 2>&1 &
PID=$!

# Until the core answers `evergreen status` (setup + build run first).
deadline=$((SECONDS + START_BOUND_S))
until [ -x "$EVG" ] && "$EVG" status --root "$ROOT" >/dev/null 2>&1; do
  kill -0 "$PID" 2>/dev/null || fail "run-example.sh exited before the core answered status"
  [ $SECONDS -lt $deadline ] || fail "core did not answer status within ${START_BOUND_S}s"
  sleep 1
done
grep -q "unbound variable" "$TMP/run.log" && fail "run-example.sh printed 'unbound variable'"
echo "smoke-example: core is up"

# Dashboard device subscribes; Sensor device publishes until both answers arrived (bounded).
: >"$TMP/dashboard.out"
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" -i Dashboard -t test/topic_results -t echo/out -v \
  >"$TMP/dashboard.out" 2>"$TMP/dashboard.err" &
SUB=$!
want_seed='test/topic_results Invoked on topic "test/input_message" with message "Some string value"'
want_echo='echo/out {"topic": "echo/in", "event": {"hello": 1}}'
deadline=$((SECONDS + 60))
while :; do
  grep -qF "$want_seed" "$TMP/dashboard.out" || mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" \
    -i Sensor -t test/input_message -m '{"test-key": "Some string value"}' || true
  grep -qF "$want_echo" "$TMP/dashboard.out" || mosquitto_pub -h 127.0.0.1 -p "$MQTT_PORT" \
    -i Sensor -t echo/in -m '{"hello": 1}' || true
  sleep 1
  if grep -qF "$want_seed" "$TMP/dashboard.out" && grep -qF "$want_echo" "$TMP/dashboard.out"; then
    break
  fi
  kill -0 "$PID" 2>/dev/null || fail "core exited while driving the example"
  if [ $SECONDS -ge $deadline ]; then
    echo "---- Dashboard received ----" >&2
    cat "$TMP/dashboard.out" "$TMP/dashboard.err" >&2
    fail "no SeedExample/Echo answer within 60s"
  fi
done
kill "$SUB" 2>/dev/null || true
wait "$SUB" 2>/dev/null || true
echo "smoke-example: SeedExample and Echo answered the Sensor"
# On a host with v1's ggc_user (setup.sh creates it) the functions ran as ggc_user.
if getent passwd ggc_user >/dev/null; then
  pgrep -u ggc_user -f "lambda_runtime.py --handler=echo.handler" >/dev/null ||
    fail "the Echo worker does not run as ggc_user"
  echo "smoke-example: functions run as ggc_user"
fi

# Ctrl-C: the core must exit 0 within a bounded time.
kill -INT "$PID"
deadline=$((SECONDS + 15))
while kill -0 "$PID" 2>/dev/null; do
  [ $SECONDS -lt $deadline ] || fail "core still running 15s after SIGINT"
  sleep 0.2
done
set +e
wait "$PID"
rc=$?
set -e
PID=""
[ $rc -eq 0 ] || fail "core exited with status $rc after SIGINT"
if grep -E '\bERROR\b' "$TMP/run.log" >&2; then fail "the example run logged an ERROR"; fi
echo "smoke-example: PASS (clean exit after SIGINT)"
