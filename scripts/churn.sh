#!/usr/bin/env bash
# Connection churn, both modes one after the other: scripts/churn.py against each, with short
# connections that close at once and ones held open 20 ms, and a markdown table of RSS and
# threads before, during and after, and the newcomer's wait.
#
#   scripts/churn.sh [--connections 20000] [--repeat 3] [--out FILE]
#
# Writes --out (default bench/churn.md). Loopback only; each run is bounded by churn.py's
# --timeout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

connections=20000 repeat=3 out=$ROOT/bench/churn.md
while [ $# -gt 0 ]; do
    case $1 in
        --connections) connections=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
bench_files "$out"
raw=$RAW log=$LOG

for rep in $(seq "$repeat"); do
    for hold in 0 20; do
        for mode in poll threads; do
            start_server "$log" "$CHATD" --port 0 --mode "$mode" -q
            result=$(python3 "$ROOT/scripts/churn.py" --port "$SERVER_PORT" --pid "$SERVER_PID" \
                     --connections "$connections" --hold-ms "$hold")
            stop_server
            echo "{\"mode\":\"$mode\",\"hold_ms\":$hold,\"rep\":$rep,${result#\{}" >>"$raw"
            echo "$mode hold ${hold} ms rep $rep: $result" | cut -c1-200
        done
    done
done

python3 - "$raw" "$out" "scripts/churn.sh --connections $connections --repeat $repeat" <<'PY'
import json, statistics, sys
raw, out, command = sys.argv[1:4]
rows = [json.loads(l) for l in open(raw) if l.strip()]
def med(vals):
    return statistics.median(vals) if vals else 0
lines = [f"Made by `{command}`: 5 clients chat while {rows[0]['connections']} short connections "
         "each connect, send `hello` and close (at once, or held open 20 ms), as fast as one "
         "Python loop makes them. Medians of the runs; RSS in MB; 'during' is at 3/4 of the "
         "connections, 'most' the highest of samples taken every 10 ms, 'at the end' as the last "
         "one closes, 'after' 1 s and 5 s later. 'newcomer' is how long a client that connects halfway waits "
         "for its welcome, and for its first line to reach a chatting client.", "",
         "| mode | held | connections/s | RSS before | RSS during | RSS after 1 s / 5 s | threads most / after 5 s | fds most / at the end | newcomer welcome / relayed ms | ticks lost |",
         "|---|---|---|---|---|---|---|---|---|---|"]
for hold in (0, 20):
    for mode in ("poll", "threads"):
        rs = [r for r in rows if r["mode"] == mode and r["hold_ms"] == hold]
        if not rs:
            continue
        mb = lambda key, part="rss_kib": f"{med([r[key][part] for r in rs]) / 1024:.1f}"
        n = lambda key, part: f"{med([r[key][part] for r in rs]):.0f}"
        nc = lambda k: f"{med([r['newcomer'].get(k, 99) for r in rs]) * 1000:.0f}"
        lines.append(f"| {mode} | {hold} ms | {med([r['per_sec'] for r in rs]):.0f} | {mb('before')} | {mb('during')} "
                     f"| {mb('after_1s')} / {mb('after_5s')} | {n('peak', 'threads')} / {n('after_5s', 'threads')} "
                     f"| {n('peak', 'fds')} / {n('end', 'fds')} | {nc('welcome_s')} / {nc('relayed_s')} | {sum(r['ticks_lost'] for r in rs)} |")
lines.append("")
open(out, "w").write("\n".join(lines))
print(f"wrote {out}")
PY
