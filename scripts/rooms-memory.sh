#!/usr/bin/env bash
# What a client in 25 rooms costs the server beyond one in one room (issue 28: at most 1 KB):
# N clients reading JSON (default 1,000), first in one room each, then each in 24 rooms more
# (M rooms in all, default 960, held open meanwhile), RSS read after each step.
#
#   scripts/rooms-memory.sh [--repeat R] [--clients N] [--modes "poll threads"]
#
# Prints each run, then the medians. Everything on loopback.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
repeat=3 clients=1000 modes="poll threads"
while [ $# -gt 0 ]; do
    case $1 in
        --repeat) repeat=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
log=$(mktemp) results=$(mktemp)
trap 'stop_server; rm -f "$log" "$results"' EXIT
for rep in $(seq "$repeat"); do
    for mode in $modes; do
        start_server "$log" "$CHATD" --port 0 --mode "$mode" -q --msg-rate 0 \
            --max-clients $((2 * clients + 100)) --max-rooms 2000 --max-rooms-per-client 25
        out=$(python3 "$ROOT/scripts/rooms-memory.py" "$SERVER_PORT" "$SERVER_PID" --clients "$clients")
        stop_server
        echo "$mode $out"
        echo "$mode $(echo "$out" | sed -n 's/.*"bytes_per_client": \([0-9-]*\).*/\1/p')" >>"$results"
    done
done
echo
echo "medians of $repeat runs (bytes of RSS per client, 25 rooms against 1):"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    mode, value = line.split()
    rows.setdefault(mode, []).append(float(value))
for mode, v in rows.items():
    print(f"{mode:8} {statistics.median(v):8.0f}")
PY
