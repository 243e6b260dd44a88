#!/usr/bin/env bash
# A legitimate client's durable client_credentials load, alone and while
# each attack of issue 22 runs (benches/attack.py): its throughput and p99
# with and without the attack, what the attacker got back, and how much
# the log grew meanwhile. Not a test: it asserts nothing about speed.
#
#   bash benches/attack.sh                         # every attack, 10 s each
#   DURATION=5 ATTACKS="lockout replays" bash benches/attack.sh
#
# authlog is pinned to core 0, wrk (the legitimate client, 8 connections
# from 127.0.0.1) to core 1; attackers run unpinned from other loopback
# addresses. Needs: cargo, wrk, python3, taskset, curl. Loopback only;
# stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PEERS="${PEERS:-$ROOT/../shared/peers}"
DURATION="${DURATION:-10}"
CONNS="${CONNS:-8}"
PORT="${PORT:-18490}"
ATTACKS="${ATTACKS:-lockout unknown slow-bodies connections logins replays registrations}"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk && [ "$(id -u)" = 0 ] && need apt-get; then
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
fi
for tool in wrk taskset cargo curl python3; do
  need "$tool" || { echo "missing: $tool (install it and run again)" >&2; exit 1; }
done
[ -f "$PEERS/wrk/token_cc.lua" ] || { echo "missing: $PEERS/wrk/token_cc.lua (set PEERS=...)" >&2; exit 1; }

cargo build --release --quiet
BIN="$ROOT/target/release/authlog"
WORK=$(mktemp -d)
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

SECRET="bench-admin-secret-0123456789"
PASSWORD="bench-admin-password-123"
AUTHLOG_BOOTSTRAP_ADMIN_SECRET="$SECRET" AUTHLOG_BOOTSTRAP_ADMIN_PASSWORD="$PASSWORD" \
  AUTHLOG_USAGE_FLUSH_SECONDS=5 AUTHLOG_LOG=error taskset -c 0 "$BIN" serve \
  --data "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/authlog.out" 2>"$WORK/authlog.err" &
SERVER=$!
A="http://127.0.0.1:$PORT"
for _ in $(seq 1 300); do curl -fsS -o /dev/null "$A/readyz" 2>/dev/null && break; sleep 0.1; done

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
ADMIN=$(curl -fsS -u "authlog-admin:$SECRET" -d grant_type=client_credentials "$A/oauth/token" | json '["access_token"]')
LEGIT_SECRET=$(curl -fsS -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d '{"client_id":"bench-post","client_name":"legitimate","grant_types":["client_credentials"],"scope":"api:read","token_endpoint_auth_method":"client_secret_post"}' \
  "$A/api/admin/oauth-clients" | json '["client_secret"]')
ARTIFACTS=$(python3 benches/attack.py prepare "$A" "$ADMIN" "$PASSWORD")

# The record file's used length: it grows in preallocated zeroed steps,
# and every record ends in a 32-byte hash.
log_bytes() {
  python3 - "$WORK/data/authlog.log" <<'EOF'
import os, sys
path = sys.argv[1]
size = os.path.getsize(path)
with open(path, "rb") as f:
    end = size
    while end > 0:
        start = max(0, end - (1 << 20))
        f.seek(start)
        chunk = f.read(end - start).rstrip(b"\0")
        if chunk:
            print(start + len(chunk))
            break
        end = start
    else:
        print(0)
EOF
}
position() { curl -fsS "$A/readyz" | json '["position"]'; }

# Prints "req/s p99_ms non2xx socket_errors ok" for DURATION seconds of
# legitimate load (ok: answers 2xx, each one token event).
legit() {
  taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$PEERS/wrk/token_cc.lua" "$A/oauth/token" \
    -- bench-post "$LEGIT_SECRET" | python3 -c '
import re, sys
t = sys.stdin.read()
def ms(v, unit):
    v = float(v)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
p99 = ms(*re.search(r"99%\s+([\d.]+)(us|ms|s)", t).groups())
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
bad = int(bad.group(1)) if bad else 0
errors = re.search(r"Socket errors: (.*)", t)
total = int(re.search(r"(\d+) requests in", t).group(1))
errors = errors.group(1).replace(" ", "") if errors else "-"
print(f"{rps:.0f} {p99:.2f} {bad} {errors} {total - bad}")
'
}

taskset -c 1 wrk -t1 -c"$CONNS" -d3s -s "$PEERS/wrk/token_cc.lua" "$A/oauth/token" -- bench-post "$LEGIT_SECRET" >/dev/null
read -r BASE_RPS BASE_P99 BASE_BAD BASE_ERR BASE_OK < <(legit)

echo
echo "machine: $(nproc) cores; authlog on core 0, the legitimate client (wrk, $CONNS connections) on core 1, attackers unpinned; ${DURATION} s per row"
echo
echo "| attack | legit req/s | vs alone | legit p99 ms | legit non-2xx / socket errors | attacker requests: answers | log growth from the attack alone | RSS MB after |"
echo "|---|---:|---:|---:|---|---|---|---:|"
echo "| none | $BASE_RPS | 1.00 | $BASE_P99 | $BASE_BAD / $BASE_ERR | - | - | $(( $(awk '/VmRSS/{print $2}' "/proc/$SERVER/status") / 1024 )) |"
for attack in $ATTACKS; do
  # Alone first, to measure exactly what the attack appends (including the
  # failure summaries of the next flush) ...
  sleep 6
  before_pos=$(position); before_bytes=$(log_bytes)
  python3 benches/attack.py "$attack" "$A" "$DURATION" "$ARTIFACTS" bench-post >"$WORK/alone.out" 2>"$WORK/attack.err" \
    || { echo "attack $attack failed:" >&2; cat "$WORK/attack.err" >&2; }
  sleep 6
  events=$(( $(position) - before_pos ))
  bytes=$(( $(log_bytes) - before_bytes ))
  # ... then beside the legitimate client.
  sleep 6
  python3 benches/attack.py "$attack" "$A" "$DURATION" "$ARTIFACTS" bench-post >"$WORK/attack.out" 2>"$WORK/attack.err" &
  ATTACKER=$!
  sleep 1
  read -r RPS P99 BAD ERR OK < <(legit)
  wait "$ATTACKER" || { echo "attack $attack failed:" >&2; cat "$WORK/attack.err" >&2; }
  echo "| $attack | $RPS | $(python3 -c "print(f'{$RPS/$BASE_RPS:.2f}')") | $P99 | $BAD / $ERR | $(cat "$WORK/attack.out") | $events events, $bytes B (alone: $(cat "$WORK/alone.out")) | $(( $(awk '/VmRSS/{print $2}' "/proc/$SERVER/status") / 1024 )) |"
done
echo
echo "server errors (stderr, last lines):"
tail -n 5 "$WORK/authlog.err" || true
