#!/usr/bin/env bash
# Soak test (not in CI): mixed load against a release build for
# DURATION seconds (default 600) in SLICE-second slices (default 30):
# client_credentials issuance and introspection at the same time, wrk on
# core 1, authlog on core 0. Prints, per slice, requests/s, p99 and non-2xx
# counts of each load, and authlog's resident memory; at the end, memory at
# start and end, tokens issued, and the log size. Errors must be 0; memory
# may only grow with the active tokens (tokens live 1 hour here, so for a
# 10-minute soak every issued token is still active).
#
#   bash benches/soak.sh                 # 10 minutes
#   DURATION=60 SLICE=15 bash benches/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PEERS="${PEERS:-$ROOT/../shared/peers}"
DURATION="${DURATION:-600}"
SLICE="${SLICE:-30}"
PORT="${PORT:-18580}"
for tool in wrk taskset curl python3 cargo; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
cargo build --release --quiet
WORK=$(mktemp -d)
SECRET="soak-admin-secret-0123456789"
AUTHLOG_BOOTSTRAP_ADMIN_SECRET="$SECRET" AUTHLOG_LOG=warn taskset -c 0 "$ROOT/target/release/authlog" serve \
  --data "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/out" 2>"$WORK/err" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
A="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do curl -fsS -o /dev/null "$A/readyz" 2>/dev/null && break; sleep 0.1; done
json() { python3 -c "import json,sys;print(json.load(sys.stdin)$1)"; }
ADMIN=$(curl -fsS -u "authlog-admin:$SECRET" -d grant_type=client_credentials "$A/oauth/token" | json '["access_token"]')
S=$(curl -fsS -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d '{"client_id":"soak","client_name":"soak","grant_types":["client_credentials"],"scope":"api:read","token_endpoint_auth_method":"client_secret_post"}' \
  "$A/api/admin/oauth-clients" | json '["client_secret"]')
TOKEN=$(curl -fsS -d "grant_type=client_credentials&client_id=soak&client_secret=$S" "$A/oauth/token" | json '["access_token"]')
rss() { awk '/VmRSS/{print $2}' "/proc/$PID/status"; }
RSS0=$(rss)
summary() { python3 -c '
import re, sys
t = sys.stdin.read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)
m = re.search(r"99%\s+([\d.]+)(us|ms|s)", t); v = float(m.group(1)); u = m.group(2)
p99 = v / 1000 if u == "us" else v * 1000 if u == "s" else v
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
err = re.search(r"Socket errors:.*", t)
print(f"{float(rps):.0f} {p99:.1f} {int(bad.group(1)) if bad else 0} {1 if err else 0}")
'; }
echo "| t (s) | token req/s | token p99 ms | introspect req/s | introspect p99 ms | non-2xx | socket errors | RSS kB |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
ERRORS=0
for t in $(seq "$SLICE" "$SLICE" "$DURATION"); do
  taskset -c 1 wrk -t1 -c16 -d"${SLICE}s" --latency -s "$PEERS/wrk/token_cc.lua" "$A/oauth/token" -- soak "$S" >"$WORK/tok" 2>&1 &
  W1=$!
  taskset -c 1 wrk -t1 -c16 -d"${SLICE}s" --latency -s "$PEERS/wrk/introspect.lua" "$A/oauth/introspect" -- "$TOKEN" soak "$S" >"$WORK/int" 2>&1
  wait $W1
  read -r TR TP TB TE < <(summary <"$WORK/tok")
  read -r IR IP IB IE < <(summary <"$WORK/int")
  ERRORS=$((ERRORS + TB + IB + TE + IE))
  echo "| $t | $TR | $TP | $IR | $IP | $((TB + IB)) | $((TE + IE)) | $(rss) |"
done
EVENTS=$(curl -fsS "$A/readyz" | json '["events"]')
echo
echo "errors: $ERRORS; RSS at start ${RSS0} kB, at end $(rss) kB; $EVENTS events in the log; record file $(stat -c %s "$WORK/data/authlog.log") bytes, index $(stat -c %s "$WORK/data/authlog.redb") bytes"
[ "$ERRORS" -eq 0 ]
