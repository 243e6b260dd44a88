# Shared by the load benchmarks (sourced): tools, waiting for a server,
# and wrk runs reduced to the median.

need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk; then
  if [ "$(id -u)" = 0 ] && need apt-get; then
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  fi
fi
wait_http() { # url
  for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "server at $1 did not come up" >&2; exit 1
}

# Runs wrk RUNS times; prints "req/s p50_ms p99_ms non2xx" of the median
# run. URLS may name several servers (space-separated): each run then
# drives them all at once, one wrk each with an equal share of CONNS, and
# counts the sum of their requests/s and the worst of their latencies.
measure() { # urls script args...
  local urls=($1) script=$2; shift 2
  local conns=$(( CONNS / ${#urls[@]} ))
  for url in "${urls[@]}"; do
    taskset -c "$WRK_CORE" wrk -t1 -c"$conns" -d3s -s "$script" "$url" -- "$@" >/dev/null 2>&1 || true
  done
  for _ in $(seq 1 "$RUNS"); do
    echo "=== run"
    local pids=() outs=()
    for url in "${urls[@]}"; do
      local out; out=$(mktemp)
      outs+=("$out")
      taskset -c "$WRK_CORE" wrk -t1 -c"$conns" -d"$DURATION" --latency -s "$script" "$url" -- "$@" >"$out" &
      pids+=($!)
    done
    wait "${pids[@]}"
    cat "${outs[@]}"; rm -f "${outs[@]}"
  done | python3 -c '
import re, sys
text = sys.stdin.read()
def ms(v, unit):
    v = float(v)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
runs = []
for run in text.split("=== run")[1:]:
    total, p50s, p99s, bad = 0.0, [], [], 0
    for block in run.split("Running ")[1:]:
        total += float(re.search(r"Requests/sec:\s+([\d.]+)", block).group(1))
        p50s.append(ms(*re.search(r"50%\s+([\d.]+)(us|ms|s)", block).groups()))
        p99s.append(ms(*re.search(r"99%\s+([\d.]+)(us|ms|s)", block).groups()))
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", block)
        bad += int(non2xx.group(1)) if non2xx else 0
    runs.append((total, max(p50s), max(p99s), bad))
runs.sort()
rps, p50, p99, bad = runs[len(runs) // 2]
print(f"{rps:.0f} {p50:.2f} {p99:.2f} {bad}")
'
}
