#!/usr/bin/env bash
# Broker load benchmark: Debian's mosquitto vs the Evergreen core (open broker mode), same run,
# same load generator (bench/mqtt_load), markdown table on stdout. See bench/README.md.
#
# usage: bench/broker_bench.sh [--build DIR] [--scenarios LIST] [--max-messages N]
#                              [--max-seconds S] [--out FILE] [--persistence] [--deep LIST]
#                              [--broker-inflight N]
# --deep LIST: after the default scenarios, the same broker also runs LIST (default
#   qos1_1to1,qos0_1to1; "none" skips it) with 1,000 messages allowed in flight (mqtt_load
#   --window 1000 --inflight 1000), reported as <scenario>_w1000 (issue 17's shape).
# --broker-inflight N (default 100): QoS 1/2 messages each broker keeps in flight towards one
#   subscriber, the same for both (mosquitto max_inflight_messages, the core's
#   evergreen.mqtt.maxInflightPerClient). 1000 makes the w1000 rows 1,000 in flight end to end.
# --persistence: subscribers use cleanSession=0; mosquitto runs with persistence true, and the
#   core runs twice, without (evergreen) and with (evergreen-persist) evergreen.mqtt.persistence.
#   Default scenarios then: qos1_1to1,qos1_10to10.
# Environment: EVG_BENCH_KEEP=1 keeps the temp dir (configs, logs, raw TSV) for inspection.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${REPO}/build"
SCENARIOS="all"
MAX_MESSAGES=200000
MAX_SECONDS=10
OUT=""
PERSIST=0
DEEP="qos1_1to1,qos0_1to1"
BROKER_INFLIGHT=100
PY=/usr/bin/python3
MOSQUITTO_BIN=/usr/sbin/mosquitto
PER_BROKER_TIMEOUT=140   # hard bound on one broker's whole scenario list (2 brokers < 5 min)

while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$2"; shift 2 ;;
    --scenarios) SCENARIOS="$2"; shift 2 ;;
    --max-messages) MAX_MESSAGES="$2"; shift 2 ;;
    --max-seconds) MAX_SECONDS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --persistence) PERSIST=1; shift ;;
    --deep) DEEP="$2"; shift 2 ;;
    --broker-inflight) BROKER_INFLIGHT="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "broker_bench: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

LOAD_FLAGS=()
if [ "$PERSIST" = 1 ]; then
  LOAD_FLAGS+=(--persistent-subscribers)
  [ "$SCENARIOS" = "all" ] && SCENARIOS="qos1_1to1,qos1_10to10"
fi
LOAD="${BUILD}/bench/mqtt_load"
EVG="${BUILD}/apps/evergreen/evergreen"

# Build only the load generator, and only if it is missing.
if [ ! -x "$LOAD" ]; then
  echo "broker_bench: building mqtt_load in ${BUILD}" >&2
  if [ ! -f "${BUILD}/CMakeCache.txt" ]; then
    cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
  fi
  cmake --build "$BUILD" --target mqtt_load -j 2 >&2
fi
[ -x "$LOAD" ] || { echo "broker_bench: $LOAD not built (is libmosquitto-dev installed?)" >&2; exit 1; }
[ -x "$MOSQUITTO_BIN" ] || { echo "broker_bench: $MOSQUITTO_BIN missing (apt-get install mosquitto)" >&2; exit 1; }

TMP="$(mktemp -d /tmp/evg-broker-bench.XXXXXX)"
MOSQ_PID=""
EVG_PID=""
LOAD_FAILED=0  # a load generator run that failed makes the script exit 1 (after the report)
cleanup() {
  for pid in $MOSQ_PID $EVG_PID; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  if [ "${EVG_BENCH_KEEP:-0}" = 1 ]; then echo "broker_bench: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT INT TERM

# Free loopback ports: bind port 0 several times at once and keep the answers distinct.
read -r P_MOSQ P_EVG P_EVG_TLS P_EVG_DAEMON P_EVG2 P_EVG2_TLS P_EVG2_DAEMON < <("$PY" - <<'PYEOF'
import socket
socks = []
for _ in range(7):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PYEOF
)

wait_port() {  # wait_port PORT PID SECONDS
  local port=$1 pid=$2 deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    kill -0 "$pid" 2>/dev/null || return 1
    if "$PY" -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1',$port)))"; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo "?"; }
pss_kb() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo "?"; }
mem_row() {  # mem_row LABEL PID -> "LABEL<TAB>VmRSS<TAB>PSS" in rss.tsv
  printf '%s\t%s\t%s\n' "$1" "$(rss_kb "$2")" "$(pss_kb "$2")" >>"$TMP/rss.tsv"
}

run_load() {  # run_load LABEL PORT PID -> raw TSV rows in $TMP/LABEL.tsv
  local label=$1 port=$2 pid=$3
  echo "broker_bench: running scenarios against ${label} (port ${port}, pid ${pid})" >&2
  timeout "$PER_BROKER_TIMEOUT" "$LOAD" --port "$port" --broker-pid "$pid" --label "$label" \
    --scenarios "$SCENARIOS" --max-messages "$MAX_MESSAGES" --max-seconds "$MAX_SECONDS" \
    ${LOAD_FLAGS[@]+"${LOAD_FLAGS[@]}"} >"$TMP/${label}.tsv" || { echo "broker_bench: ${label}: load generator exited with $?" >&2; LOAD_FAILED=1; }
  if [ "$DEEP" != "none" ] && [ "$PERSIST" = 0 ]; then
    # Issue 17's shape: 1,000 messages allowed in flight per publisher, closed loop.
    timeout "$PER_BROKER_TIMEOUT" "$LOAD" --port "$port" --broker-pid "$pid" --label "$label" \
      --scenarios "$DEEP" --max-messages "$MAX_MESSAGES" --max-seconds "$MAX_SECONDS" \
      --window 1000 --inflight 1000 >"$TMP/${label}.w1000.tsv" \
      || { echo "broker_bench: ${label}: load generator (w1000) exited with $?" >&2; LOAD_FAILED=1; }
    awk -F'\t' 'BEGIN {OFS="\t"} NR > 1 {$2 = $2 "_w1000"; print}' "$TMP/${label}.w1000.tsv" \
      >>"$TMP/${label}.tsv"
  fi
}

: >"$TMP/rss.tsv"

# --- mosquitto -------------------------------------------------------------------------------
cat >"$TMP/mosquitto.conf" <<CONF
listener ${P_MOSQ} 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
persistence $([ "$PERSIST" = 1 ] && echo true || echo false)
persistence_location ${TMP}/
max_queued_messages 100000
max_inflight_messages ${BROKER_INFLIGHT}
log_dest file ${TMP}/mosquitto.log
CONF
"$MOSQUITTO_BIN" -c "$TMP/mosquitto.conf" >"$TMP/mosquitto.out" 2>&1 &
MOSQ_PID=$!
if wait_port "$P_MOSQ" "$MOSQ_PID" 10; then
  sleep 0.5
  mem_row mosquitto "$MOSQ_PID"
  run_load mosquitto "$P_MOSQ" "$MOSQ_PID"
  mem_row mosquitto-after "$MOSQ_PID"
else
  echo "broker_bench: mosquitto did not start; see $TMP/mosquitto.out" >&2
  LOAD_FAILED=1
fi
kill "$MOSQ_PID" 2>/dev/null || true

# --- Evergreen core, open broker mode ----------------------------------------------------------
EVG_STATUS="not built"
run_evg() {  # run_evg LABEL PLAIN_PORT TLS_PORT DAEMON_PORT PERSISTENCE(true|false)
  local label=$1 port=$2 tls=$3 daemon=$4 persist=$5
  mkdir -p "$TMP/$label/config"
  cat >"$TMP/$label/config/config.json" <<JSON
{"coreThing":{"thingArn":"arn:aws:iot:us-east-1:123456789012:thing/BenchCore","iotHost":"localhost",
  "ggMqttPort":${tls},"ggDaemonPort":${daemon},"keepAlive":600},
 "runtime":{"cgroup":{"useSystemd":"yes"}},"managedRespawn":false,
 "evergreen":{"mqtt":{"openBroker":true,"plaintextPort":${port},"maxQueuedPerClient":100000,
   "maxInflightPerClient":${BROKER_INFLIGHT},"persistence":${persist}}}}
JSON
  "$EVG" run --root "$TMP/$label" >"$TMP/$label.out" 2>&1 &
  EVG_PID=$!
  if wait_port "$port" "$EVG_PID" 15; then
    sleep 0.5
    EVG_STATUS="ran"
    mem_row "$label" "$EVG_PID"
    run_load "$label" "$port" "$EVG_PID"
    mem_row "$label-after" "$EVG_PID"
  else
    EVG_STATUS="did not start (see ${TMP}/$label.out)"
    tail -20 "$TMP/$label.out" >&2 || true
  fi
  kill "$EVG_PID" 2>/dev/null || true
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$EVG_PID" 2>/dev/null || break; sleep 0.2; done
}
if [ -x "$EVG" ]; then
  run_evg evergreen "$P_EVG" "$P_EVG_TLS" "$P_EVG_DAEMON" false
  if [ "$PERSIST" = 1 ]; then
    run_evg evergreen-persist "$P_EVG2" "$P_EVG2_TLS" "$P_EVG2_DAEMON" true
  fi
fi

# --- report --------------------------------------------------------------------------------------
report() {
  "$PY" - "$TMP" "$EVG_STATUS" <<'PYEOF'
import csv, os, sys
tmp, evg_status = sys.argv[1], sys.argv[2]
rows = {}
order = []
LABELS = ("mosquitto", "evergreen", "evergreen-persist")
for label in LABELS:
    path = os.path.join(tmp, label + ".tsv")
    if not os.path.exists(path):
        continue
    with open(path) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if r["scenario"] not in order:
                order.append(r["scenario"])
            rows[(r["scenario"], label)] = r

def num(r, k):
    try:
        return float(r[k])
    except (KeyError, ValueError, TypeError):
        return None

def fmt(v, digits=0):
    return "pending" if v is None else (f"{v:.{digits}f}" if digits else f"{v:.0f}")

print("| scenario | broker | msg/s | p50 us | p99 us | broker CPU us/msg | ratio evergreen/mosquitto |")
print("|---|---|---:|---:|---:|---:|---|")
for sc in order:
    m = rows.get((sc, "mosquitto"))
    for label in LABELS:
        r = rows.get((sc, label))
        if r is None and label == "evergreen-persist":
            continue
        if r is None:
            note = evg_status if label == "evergreen" else "missing"
            print(f"| {sc} | {label} | pending | pending | pending | pending | {note} |")
            continue
        cpu = num(r, "broker_cpu_us_per_msg")
        cpu_s = fmt(cpu, 2) if cpu is not None and cpu >= 0 else "n/a"
        ratio = ""
        if label != "mosquitto" and m is not None:
            parts = []
            for key, name, d in (("msg_per_s", "msg/s", 2), ("p99_us", "p99", 2),
                                 ("broker_cpu_us_per_msg", "CPU/msg", 2)):
                a, b = num(r, key), num(m, key)
                if a is not None and b not in (None, 0) and a >= 0 and b > 0:
                    parts.append(f"{name} x{a / b:.{d}f}")
            ratio = ", ".join(parts)
        err = r.get("error", "-")
        if err and err != "-":
            ratio = (ratio + "; " if ratio else "") + "ERROR: " + err
        if r.get("lost", "0") not in ("0", ""):
            ratio = (ratio + "; " if ratio else "") + f"lost {r['lost']}"
        print(f"| {sc} | {label} | {fmt(num(r, 'msg_per_s'))} | {fmt(num(r, 'p50_us'))} "
              f"| {fmt(num(r, 'p99_us'))} | {cpu_s} | {ratio} |")

rss = {}
with open(os.path.join(tmp, "rss.tsv")) as f:
    for line in f:
        k, v, p = line.rstrip("\n").split("\t")
        rss[k] = (v, p)
print()
print("| broker | idle VmRSS kB (0 clients) | idle PSS kB | VmRSS kB after the run | PSS kB after the run |")
print("|---|---:|---:|---:|---:|")
for label in LABELS:
    if label not in rss:
        continue
    idle = rss.get(label, ("pending", "pending"))
    after = rss.get(label + "-after", ("pending", "pending"))
    print(f"| {label} | {idle[0]} | {idle[1]} | {after[0]} | {after[1]} |")
PYEOF
}
if [ -n "$OUT" ]; then report | tee "$OUT"; else report; fi
[ "$EVG_STATUS" = "ran" ] || echo "evergreen: ${EVG_STATUS}"
if [ -x "$EVG" ] && [ "$EVG_STATUS" != "ran" ]; then LOAD_FAILED=1; fi
exit "$LOAD_FAILED"
