#!/usr/bin/env bash
# Scale-out benchmark, in one run on one machine: durable client_credentials
# issuance and introspection on the embedded store, on PostgreSQL with 1, 2
# and 3 replicas (wrk drives every replica at once; followers forward token
# requests to the leader and serve introspection themselves after catching
# up with the log head), and on panva's oidc-provider; the follower lag
# under load; and the failover time over KILLS SIGKILLs of the leader
# (kill -> first token acknowledged by a survivor).
#
#   bash benches/replicas.sh
#   RUNS=1 DURATION=5s KILLS=5 bash benches/replicas.sh
#
# Needs what benches/load.sh needs, and PostgreSQL (AUTHLOG_BENCH_POSTGRES,
# default postgres://postgres@127.0.0.1:5432/test; each setup gets a schema
# of its own, dropped at the end). authlog servers are pinned to
# SERVER_CORE, wrk to WRK_CORE; PostgreSQL runs where the OS puts it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PEERS="${PEERS:-$ROOT/../shared/peers}"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10s}"
CONNS="${CONNS:-32}"
KILLS="${KILLS:-10}"
BASE_PORT="${BASE_PORT:-18490}"
PEER_PORT="${PEER_PORT:-18481}"
SERVER_CORE="${SERVER_CORE:-0}"
WRK_CORE="${WRK_CORE:-1}"
PG="${AUTHLOG_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}"

. "$ROOT/benches/common.sh"
for tool in wrk node npm taskset cargo curl python3 psql; do
  need "$tool" || { echo "missing: $tool (install it and run again)" >&2; exit 1; }
done
[ -d "$PEERS/oidc-provider" ] || { echo "missing: $PEERS/oidc-provider (set PEERS=...)" >&2; exit 1; }

cargo build --release --quiet
BIN="$ROOT/target/release/authlog"
WORK=$(mktemp -d)
PIDS=()
SCHEMAS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for s in "${SCHEMAS[@]:-}"; do [ -n "$s" ] && { psql "$PG" -qc "DROP SCHEMA IF EXISTS $s CASCADE" >/dev/null 2>&1 || true; }; done
  rm -rf "$WORK"
}
trap cleanup EXIT

SECRET="bench-admin-secret-0123456789"
export AUTHLOG_SERVER_KEY="YmVuY2gtc2VydmVyLWtleS0wMTIzNDU2Nzg5MDEyMzQ"
export AUTHLOG_AUDIT_KEY="YmVuY2gtYXVkaXQta2V5LTAxMjM0NTY3ODkwMTIzNDU"
export AUTHLOG_BOOTSTRAP_ADMIN_SECRET="$SECRET" AUTHLOG_LOG=warn

new_schema() { # name; sets STORE to a URL with that schema first on the search path
  psql "$PG" -qc "DROP SCHEMA IF EXISTS $1 CASCADE; CREATE SCHEMA $1" >/dev/null 2>&1
  SCHEMAS+=("$1")
  local sep='?'; [[ "$PG" == *\?* ]] && sep='&'
  STORE="$PG${sep}options=-c%20search_path%3D$1"
}

start() { # index [store-url]; prints the pid
  local port=$((BASE_PORT + $1)) store=${2:-}
  local args=(serve --data "$WORK/data$1.$RANDOM" --listen "127.0.0.1:$port")
  [ -n "$store" ] && args+=(--store "$store")
  taskset -c "$SERVER_CORE" "$BIN" "${args[@]}" >"$WORK/out$1" 2>>"$WORK/err$1" &
  echo $!
}

url() { echo "http://127.0.0.1:$((BASE_PORT + $1))"; }
json() { python3 -c "import json,sys;print(json.load(sys.stdin)$1)"; }

# Sets up bench-post on the server at $1 and measures both scenarios on
# the servers in $2 (space-separated URLs); prints "cc... int..." results.
# With $3 set, also measures introspection on the leader alone ($1) and on
# the follower $3 alone (into $WORK/barrier).
scenarios() { # setup-url urls [follower-url]
  local admin sec token
  admin=$(curl -fsS -u "authlog-admin:$SECRET" -d grant_type=client_credentials "$1/oauth/token" | json '["access_token"]')
  sec=$(curl -fsS -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"client_id":"bench-post","client_name":"bench","grant_types":["client_credentials"],"scope":"api:read","token_endpoint_auth_method":"client_secret_post"}' \
    "$1/api/admin/oauth-clients" | json '["client_secret"]')
  token=$(curl -fsS -d "grant_type=client_credentials&client_id=bench-post&client_secret=$sec" "$1/oauth/token" | json '["access_token"]')
  local urls_token="" urls_int=""
  for u in $2; do urls_token+="$u/oauth/token "; urls_int+="$u/oauth/introspect "; done
  if [ -n "${3:-}" ]; then
    echo "$(measure "$1/oauth/introspect" "$PEERS/wrk/introspect.lua" "$token" bench-post "$sec") $(measure "$3/oauth/introspect" "$PEERS/wrk/introspect.lua" "$token" bench-post "$sec")" >"$WORK/barrier"
  fi
  echo "$(measure "$urls_token" "$PEERS/wrk/token_cc.lua" bench-post "$sec") $(measure "$urls_int" "$PEERS/wrk/introspect.lua" "$token" bench-post "$sec")"
}

leader_of() { # count -> index of the replica that leads
  for _ in $(seq 1 400); do
    for i in $(seq 0 $(($1 - 1))); do
      if curl -fsS "$(url "$i")/readyz" 2>/dev/null | grep -q '"role":"leader"'; then echo "$i"; return; fi
    done
    sleep 0.05
  done
  echo "no leader" >&2; exit 1
}

declare -A ROW
# --- embedded ---
PID=$(start 0); PIDS+=("$PID"); wait_http "$(url 0)/readyz"
ROW[embedded]=$(scenarios "$(url 0)" "$(url 0)")
kill "$PID"; wait "$PID" 2>/dev/null || true

# --- PostgreSQL, 1..3 replicas ---
LAG=""
for n in 1 2 3; do
  new_schema "authlog_bench_$n"
  pids=()
  for i in $(seq 0 $((n - 1))); do
    p=$(start "$i" "$STORE"); pids+=("$p"); PIDS+=("$p")
    wait_http "$(url "$i")/readyz"
  done
  lead=$(leader_of "$n")
  urls=""; for i in $(seq 0 $((n - 1))); do urls+="$(url "$i") "; done
  if [ "$n" = 3 ]; then
    # Sample the followers' lag while the token load runs.
    ( while true; do
        for i in 0 1 2; do
          [ "$i" = "$lead" ] && continue
          curl -fsS "$(url "$i")/readyz" 2>/dev/null | json '["replication"]["lag"]' || true
        done
        sleep 0.1
      done ) >"$WORK/lag" 2>/dev/null &
    LAGGER=$!
  fi
  follower=""
  [ "$n" = 2 ] && follower=$(url $((1 - lead)))
  ROW[pg$n]=$(scenarios "$(url "$lead")" "$urls" "$follower")
  if [ "$n" = 3 ]; then
    kill "$LAGGER" 2>/dev/null || true
    LAG=$(python3 -c '
import sys
v = sorted(int(x) for x in open(sys.argv[1]).read().split() if x.isdigit())
print(f"{len(v)} samples: median {v[len(v)//2]}, p99 {v[min(len(v)-1, int(len(v)*0.99))]}, max {v[-1]} events" if v else "no samples")' "$WORK/lag")
  fi
  if [ "$n" -lt 3 ]; then
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  fi
done

# --- failover: 3 replicas still run on authlog_bench_3 ---
FAILOVER=$(python3 - "$KILLS" "$BASE_PORT" "$SECRET" "$BIN" "$STORE" "$WORK" "$SERVER_CORE" "${pids[@]}" <<'PY'
import json, os, signal, subprocess, sys, time, urllib.request, urllib.error, base64
kills, base, secret, binary, store, work, core = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
pids = [int(p) for p in sys.argv[8:]]
urls = [f"http://127.0.0.1:{base + i}" for i in range(3)]
auth = "Basic " + base64.b64encode(f"authlog-admin:{secret}".encode()).decode()
def view(u):
    try:
        r = json.load(urllib.request.urlopen(u + "/readyz", timeout=1))["replication"]
        return (r["role"], r["leader"])
    except Exception:
        return (None, None)
def token(u):
    req = urllib.request.Request(u + "/oauth/token", data=b"grant_type=client_credentials", headers={"Authorization": auth})
    try:
        return urllib.request.urlopen(req, timeout=2).status == 200
    except Exception:
        return False
times = []
for k in range(kills):
    deadline = time.time() + 20
    while True:
        views = [view(u) for u in urls]
        leaders = [i for i, v in enumerate(views) if v[0] == "leader"]
        # One leader, and every replica forwards to it.
        if len(leaders) == 1 and all(v[1] == urls[leaders[0]] for v in views):
            break
        assert time.time() < deadline, "no stable leader"
        time.sleep(0.05)
    lead = leaders[0]
    survivor = urls[(lead + 1) % 3]
    assert token(survivor)
    t0 = time.monotonic()
    os.kill(pids[lead], signal.SIGKILL)
    while not token(survivor):
        time.sleep(0.002)
    times.append(time.monotonic() - t0)
    p = subprocess.Popen(["taskset", "-c", core, binary, "serve", "--data", f"{work}/again{k}", "--listen", f"127.0.0.1:{base + lead}", "--store", store],
                         stdout=subprocess.DEVNULL, stderr=open(f"{work}/again{k}.err", "w"))
    pids[lead] = p.pid
    print(p.pid, file=open(f"{work}/pids", "a"))
times.sort()
ms = [round(t * 1000) for t in times]
print(f"{len(ms)} kills: min {ms[0]} ms, median {ms[len(ms)//2]} ms, max {ms[-1]} ms")
for p in pids:
    try: os.kill(p, signal.SIGKILL)
    except ProcessLookupError: pass
PY
)

# --- what one durable commit costs this PostgreSQL (one connection, one row) ---
new_schema authlog_bench_commit
psql "$PG" -qc "CREATE TABLE authlog_bench_commit.t (id bigserial PRIMARY KEY, v bytea)" >/dev/null
echo "INSERT INTO authlog_bench_commit.t (v) VALUES (NULL);" >"$WORK/commit.sql"
COMMIT_LATENCY=$(pgbench -n -c1 -T5 -f "$WORK/commit.sql" "$PG" 2>/dev/null | awk '/latency average/{print $4" "$5}')

# --- oidc-provider ---
PORT="$PEER_PORT" taskset -c "$SERVER_CORE" bash "$PEERS/oidc-provider/start.sh" >"$WORK/peer.out" 2>"$WORK/peer.err" &
PIDS+=($!)
P="http://127.0.0.1:$PEER_PORT"
wait_http "$P/.well-known/openid-configuration"
P_TOKEN=$(curl -fsS -d "grant_type=client_credentials&client_id=bench-post&client_secret=bench-secret-post" "$P/token" | json '["access_token"]')
ROW[peer]="$(measure "$P/token" "$PEERS/wrk/token_cc.lua" bench-post bench-secret-post) $(measure "$P/token/introspection" "$PEERS/wrk/introspect.lua" "$P_TOKEN" bench-post bench-secret-post)"

echo
echo "machine: $(nproc) cores, $(uname -m); authlog servers on core $SERVER_CORE, wrk on core $WRK_CORE, PostgreSQL unpinned; $CONNS connections in all; median of $RUNS x $DURATION"
echo
echo "| setup | client_credentials req/s | p50 ms | p99 ms | non-2xx | introspection req/s | p50 ms | p99 ms | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for key in embedded pg1 pg2 pg3 peer; do
  read -r t r50 r99 rbad i i50 i99 ibad <<<"${ROW[$key]}"
  case $key in
    embedded) name="authlog, embedded store";;
    pg1) name="authlog, PostgreSQL, 1 replica";;
    pg2) name="authlog, PostgreSQL, 2 replicas";;
    pg3) name="authlog, PostgreSQL, 3 replicas";;
    peer) name="oidc-provider (tokens in memory)";;
  esac
  echo "| $name | $t | $r50 | $r99 | $rbad | $i | $i50 | $i99 | $ibad |"
done
echo
read -r l_rps l50 l99 lbad f_rps f50 f99 fbad <"$WORK/barrier"
echo "introspection with 2 replicas, all load on one: leader $l_rps req/s (p99 $l99 ms), follower $f_rps req/s (p99 $f99 ms); time per request on the follower less on the leader: $(python3 -c "print(f'{1e6/$f_rps - 1e6/$l_rps:+.1f}')") µs (the follower's wait for the head is a shared PostgreSQL read, off the server's core)"
echo "follower lag under the 3-replica token load: $LAG"
echo "one durable single-row commit on this PostgreSQL (pgbench, 1 connection): $COMMIT_LATENCY"
echo "failover (SIGKILL of the leader -> first token acknowledged through a survivor): $FAILOVER"
