#!/usr/bin/env bash
# Side-by-side load benchmark: authlog against panva's oidc-provider, in one
# run on one machine. Each server in turn is pinned to core 0, wrk to core 1;
# 32 connections; a warm-up, then 3 x 10 s per scenario; the median run is
# reported. Scenarios: client_credentials issuance (client_secret_post) and
# introspection of one token. authlog makes every token fsync-durable before
# it answers; the peer keeps tokens in memory.
#
#   bash benches/load.sh            # full run (about 3 minutes)
#   RUNS=1 DURATION=5s bash benches/load.sh
#
# Needs: cargo, wrk (Debian package; installed if missing and run as root),
# node + npm (for the peer), taskset. Loopback only; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PEERS="${PEERS:-$ROOT/../shared/peers}"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-32}"
AUTHLOG_PORT="${AUTHLOG_PORT:-18480}"
PEER_PORT="${PEER_PORT:-18481}"
SERVER_CORE="${SERVER_CORE:-0}"
WRK_CORE="${WRK_CORE:-1}"

. "$ROOT/benches/common.sh"
for tool in wrk node npm taskset cargo curl python3; do
  need "$tool" || { echo "missing: $tool (install it and run again)" >&2; exit 1; }
done
[ -d "$PEERS/oidc-provider" ] || { echo "missing: $PEERS/oidc-provider (set PEERS=...)" >&2; exit 1; }

cargo build --release --quiet
BIN="$ROOT/target/release/authlog"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# --- authlog ---
SECRET="bench-admin-secret-0123456789"
AUTHLOG_BOOTSTRAP_ADMIN_SECRET="$SECRET" AUTHLOG_LOG=warn taskset -c "$SERVER_CORE" "$BIN" serve \
  --data "$WORK/data" --listen "127.0.0.1:$AUTHLOG_PORT" >"$WORK/authlog.out" 2>"$WORK/authlog.err" &
PIDS+=($!)
A="http://127.0.0.1:$AUTHLOG_PORT"
wait_http "$A/readyz"
ADMIN=$(curl -fsS -u "authlog-admin:$SECRET" -d grant_type=client_credentials "$A/oauth/token" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
A_SECRET=$(curl -fsS -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d '{"client_id":"bench-post","client_name":"bench","grant_types":["client_credentials"],"scope":"api:read api:write","token_endpoint_auth_method":"client_secret_post"}' \
  "$A/api/admin/oauth-clients" | python3 -c 'import json,sys;print(json.load(sys.stdin)["client_secret"])')
A_TOKEN=$(curl -fsS -d "grant_type=client_credentials&client_id=bench-post&client_secret=$A_SECRET" "$A/oauth/token" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
read -r A_TOK_RPS A_TOK_P50 A_TOK_P99 A_TOK_BAD < <(measure "$A/oauth/token" "$PEERS/wrk/token_cc.lua" bench-post "$A_SECRET")
read -r A_INT_RPS A_INT_P50 A_INT_P99 A_INT_BAD < <(measure "$A/oauth/introspect" "$PEERS/wrk/introspect.lua" "$A_TOKEN" bench-post "$A_SECRET")
# The same load for a client with RFC 9068 JWT access tokens (authlog only).
J_SECRET=$(curl -fsS -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
  -d '{"client_id":"bench-jwt","client_name":"bench jwt","grant_types":["client_credentials"],"scope":"api:read","token_endpoint_auth_method":"client_secret_post","access_token_format":"jwt"}' \
  "$A/api/admin/oauth-clients" | python3 -c 'import json,sys;print(json.load(sys.stdin)["client_secret"])')
read -r A_JWT_RPS A_JWT_P50 A_JWT_P99 A_JWT_BAD < <(measure "$A/oauth/token" "$PEERS/wrk/token_cc.lua" bench-jwt "$J_SECRET")
A_EVENTS=$(curl -fsS "$A/readyz" | python3 -c 'import json,sys;print(json.load(sys.stdin)["events"])')
A_RSS=$(awk '/VmRSS/{print $2}' "/proc/${PIDS[0]}/status")
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
A_LOG_BYTES=$(stat -c %s "$WORK/data/authlog.log")
A_INDEX_BYTES=$(stat -c %s "$WORK/data/authlog.redb")

# --- oidc-provider ---
PORT="$PEER_PORT" taskset -c "$SERVER_CORE" bash "$PEERS/oidc-provider/start.sh" >"$WORK/peer.out" 2>"$WORK/peer.err" &
PIDS+=($!)
P="http://127.0.0.1:$PEER_PORT"
wait_http "$P/.well-known/openid-configuration"
P_TOKEN=$(curl -fsS -d "grant_type=client_credentials&client_id=bench-post&client_secret=bench-secret-post" "$P/token" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
read -r P_TOK_RPS P_TOK_P50 P_TOK_P99 P_TOK_BAD < <(measure "$P/token" "$PEERS/wrk/token_cc.lua" bench-post bench-secret-post)
read -r P_INT_RPS P_INT_P50 P_INT_P99 P_INT_BAD < <(measure "$P/token/introspection" "$PEERS/wrk/introspect.lua" "$P_TOKEN" bench-post bench-secret-post)

ratio() { python3 -c "print(f'{$1/$2:.1f}x')"; }
echo
echo "machine: $(nproc) cores, $(uname -m); servers on core $SERVER_CORE, wrk on core $WRK_CORE; $CONNS connections; median of $RUNS x $DURATION"
echo
echo "| scenario | authlog req/s | p50 ms | p99 ms | oidc-provider req/s | p50 ms | p99 ms | authlog / peer |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
echo "| client_credentials (durable) | $A_TOK_RPS | $A_TOK_P50 | $A_TOK_P99 | $P_TOK_RPS | $P_TOK_P50 | $P_TOK_P99 | $(ratio "$A_TOK_RPS" "$P_TOK_RPS") |"
echo "| introspection | $A_INT_RPS | $A_INT_P50 | $A_INT_P99 | $P_INT_RPS | $P_INT_P50 | $P_INT_P99 | $(ratio "$A_INT_RPS" "$P_INT_RPS") |"
echo
echo "authlog client_credentials with JWT access tokens (RFC 9068, ES256): $A_JWT_RPS req/s, p50 $A_JWT_P50 ms, p99 $A_JWT_P99 ms ($(python3 -c "print(f'{1e6/$A_JWT_RPS - 1e6/$A_TOK_RPS:.1f}')") µs more per token than opaque; non-2xx $A_JWT_BAD)"
echo "non-2xx responses: authlog token $A_TOK_BAD, introspect $A_INT_BAD; peer token $P_TOK_BAD, introspect $P_INT_BAD"
per_event() { python3 -c "print(round($1/max($A_EVENTS,1)))"; }
echo "authlog after the run: $A_EVENTS events; record file $A_LOG_BYTES bytes ($(per_event "$A_LOG_BYTES") bytes/event), index $A_INDEX_BYTES bytes ($(per_event "$A_INDEX_BYTES") bytes/event); RSS ${A_RSS} kB"
