#!/usr/bin/env bash
# What an idle connection costs the server, two builds alternating in one run: N clients
# (default 10,000) connected, one of them sending 10 lines at 10 a second, the server's RSS
# read from /proc by chatbench before the clients come and while they are connected.
#
#   scripts/idle-memory.sh OLD_BIN_DIR NEW_BIN_DIR [--repeat R] [--clients N] [--modes "poll"]
#
# Each *_BIN_DIR holds a chatd and a chatbench (a copy of target/release/ from each commit);
# one directory twice measures one build. Prints each run's bytes per connection, then the
# medians. Needs twice N open files (ulimit -n); everything on loopback.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ $# -ge 2 ] || { sed -n '2,10p' "$0"; exit 2; }
old=$1 new=$2
shift 2
repeat=3 clients=10000 modes=poll
while [ $# -gt 0 ]; do
    case $1 in
        --repeat) repeat=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
log=$(mktemp) results=$(mktemp)
trap 'stop_server; rm -f "$log" "$results"' EXIT

run() {
    local build=$1 dir=$2 mode=$3 out value
    start_server "$log" "$dir/chatd" --port 0 --mode "$mode" -q --max-clients $((clients + 100))
    out=$("$dir/chatbench" --port "$SERVER_PORT" -n "$clients" -s 1 -r 10 -m 10 -p 32 \
          --server-pid "$SERVER_PID" --json --time-limit 60 2>/dev/null || echo '{}')
    stop_server
    value=$(echo "$out" | sed -n 's/.*"server_rss_per_conn_bytes":\([0-9.]*\).*/\1/p')
    connected=$(echo "$out" | sed -n 's/.*"connected":\([0-9]*\).*/\1/p')
    if [ "${connected:-0}" != "$clients" ]; then
        # Fewer connections than asked (a limit on open files?): not a figure for this.
        printf '%-8s %-4s failed: %s of %s connected\n' "$mode" "$build" "${connected:-0}" "$clients"
        return
    fi
    printf '%-8s %-4s %8s B per connection\n' "$mode" "$build" "$value"
    echo "$mode $build $value" >>"$results"
}

for rep in $(seq "$repeat"); do
    for mode in $modes; do
        # Alternate which build goes first, so neither always gets the warmer machine.
        if [ $((rep % 2)) = 1 ]; then order="old new"; else order="new old"; fi
        for build in $order; do
            dir=$old; [ "$build" = new ] && dir=$new
            run "$build" "$dir" "$mode"
        done
    done
done

echo
echo "medians of $repeat runs, RSS bytes per connection at $clients clients:"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    mode, build, value = line.split()
    rows.setdefault((mode, build), []).append(float(value))
for mode in sorted({m for m, _ in rows}):
    old = statistics.median(rows[(mode, "old")])
    new = statistics.median(rows[(mode, "new")])
    print(f"{mode:8} old {old:7.0f}  new {new:7.0f}  ({new - old:+.0f} B)")
PY
