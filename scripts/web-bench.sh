#!/usr/bin/env bash
# WebSocket clients against plain TCP clients, on the same work in one run, both modes; writes
# a report (default bench/web.md) and its raw runs (the same name, .jsonl).
#
#   scripts/web-bench.sh [--repeat R (3)] [--out FILE] [--modes "poll threads"]
#
# Each run: a fresh chatd (--msg-rate 0) with a plain and a web listener, and chatbench:
#   flat  1,000 clients, 1 sender, 3,000 messages (about 3 M deliveries), all TCP (text lines),
#         all TCP reading JSON events (/format json: the same bytes as WebSocket clients get,
#         without the frames), or all WebSocket (chatbench --ws 1000: lines out as text frames,
#         JSON events in)
#   idle  5,000 clients connected, then one message: the server's RSS per connection
# The two transports alternate within each repetition; the report gives medians and the
# WebSocket/TCP ratio. chatbench parses the JSON events' marks as it does the text lines.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

repeat=3 out=$ROOT/bench/web.md modes="poll threads"
while [ $# -gt 0 ]; do
    case $1 in
        --repeat) repeat=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
(cd "$ROOT" && cargo build --release --quiet --bins)
log=$(mktemp)
trap 'stop_server; rm -f "$log"' EXIT
raw=${out%.md}.jsonl
mkdir -p "$(dirname "$out")"
: >"$raw"

serve() {
    start_server "$log" "$CHATD" --mode "$1" --port 0 --web-port 0 --msg-rate 0 \
        --max-clients 20000 -q
    WEB_PORT=
    for _ in $(seq 100); do
        WEB_PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\) .*web.*/\1/p' "$log")
        [ -n "$WEB_PORT" ] && return 0
        sleep 0.05
    done
    echo "no web listener" >&2
    return 1
}

for rep in $(seq "$repeat"); do
    for mode in $modes; do
        for work in flat idle; do
            for transport in tcp json ws; do
                [ "$work" = idle ] && [ "$transport" = json ] && continue
                serve "$mode"
                n=1000 args="-s 1 -m 3000"
                [ "$work" = idle ] && n=5000 args="-s 1 -m 1"
                extra=()
                [ "$transport" = ws ] && extra=(--web-port "$WEB_PORT" --ws "$n")
                [ "$transport" = json ] && extra=(--hello "/format json")
                echo "== $mode $work $transport, run $rep"
                # shellcheck disable=SC2086
                "$CHATBENCH" --port "$SERVER_PORT" "${extra[@]}" -n "$n" $args \
                    --server-pid "$SERVER_PID" --json \
                    | record mode="$mode" work="$work" transport="$transport" rep="$rep"
                stop_server
            done
        done
    done
done

python3 - "$raw" "$out" "$repeat" "$modes" <<'PY'
import json, statistics, sys
raw, out, repeat, modes = sys.argv[1:5]
rows = [json.loads(l) for l in open(raw)]
def med(mode, work, transport, key):
    xs = [float(r.get(key, 0)) for r in rows
          if r["mode"] == mode and r["work"] == work and r["transport"] == transport]
    return statistics.median(xs) if xs else float("nan")
lines = [
    "# WebSocket clients against TCP clients",
    "",
    f"`scripts/web-bench.sh --repeat {repeat}`: medians of {repeat} runs, the transports alternating;",
    "chatd --msg-rate 0 with a plain and a web listener; chatbench on the same two cores (it frames",
    "and parses the WebSocket side itself, so its own cost is in the WebSocket figures too).",
    "",
    "| mode | work | TCP, text | TCP, JSON | WebSocket | WebSocket / TCP text |",
    "|---|---|---:|---:|---:|---:|",
]
for mode in modes.split():
    t, j, w = (med(mode, "flat", x, "deliveries_per_sec") for x in ("tcp", "json", "ws"))
    lines.append(f"| {mode} | flat out, 1,000 clients, deliveries/s | {t:,.0f} | {j:,.0f} | {w:,.0f} | {w / t:.2f} |")
    t, w = med(mode, "idle", "tcp", "server_rss_per_conn_bytes"), med(mode, "idle", "ws", "server_rss_per_conn_bytes")
    lines.append(f"| {mode} | idle, 5,000 clients, RSS per connection | {t:,.0f} B | | {w:,.0f} B | {w / t:.1f}x |")
lost = sum(int(r["lost"]) for r in rows)
lines += ["", f"Lost deliveries over all runs: {lost}."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
