#!/usr/bin/env bash
# A connection flood from one address, both modes: chatbench's measured clients chat from
# 127.0.0.1 (exempt, --exempt 127.0.0.1/32) while --connect-flood opens N connections a second
# from 127.0.0.2, which the default per-address limits (16 at once, 60 new a minute) refuse.
# Each run is measured with and without the flood, the order turned each time; the table
# gives the measured clients' latency both ways, and what the server refused (from /metrics).
#
#   scripts/conn-flood.sh [--flood 10000] [--repeat 3] [--out FILE]
#
# Writes --out (default bench/conn-flood.md). Loopback only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

flood=10000 repeat=3 out=$ROOT/bench/conn-flood.md
while [ $# -gt 0 ]; do
    case $1 in
        --flood) flood=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
bench_files "$out"
raw=$RAW log=$LOG
load=(-n 100 -s 10 -r 400 -m 120)

refused() {
    curl -sf "127.0.0.1:$1/metrics" | sed -n 's/^chatd_clients_dropped_total{reason="per_address_limit"} //p'
}

for rep in $(seq "$repeat"); do
    for mode in poll threads; do
        start_server "$log" "$CHATD" --port 0 --web-port 0 --mode "$mode" -q --exempt 127.0.0.1/32
        web=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\) .*web.*/\1/p' "$log" | head -n 1)
        order="0 $flood"
        [ $((rep % 2)) -eq 0 ] && order="$flood 0"
        for f in $order; do
            before=$(refused "$web")
            result=$("$CHATBENCH" --port "$SERVER_PORT" "${load[@]}" --connect-flood "$f" \
                     --server-pid "$SERVER_PID" --json)
            after=$(refused "$web")
            echo "{\"mode\":\"$mode\",\"flood\":$f,\"rep\":$rep,\"refused\":$((after - before)),${result#\{}" >>"$raw"
            echo "$mode flood $f rep $rep: $(echo "$result" | cut -c1-120)"
        done
        stop_server
    done
done

python3 - "$raw" "$out" "scripts/conn-flood.sh --flood $flood --repeat $repeat" "${load[*]}" <<'PY'
import json, statistics, sys
raw, out, command, load = sys.argv[1:5]
rows = [json.loads(l) for l in open(raw) if l.strip()]
med = lambda vals: statistics.median(vals) if vals else 0
ms = lambda us: f"{us / 1000:.2f}"
flood = max(r["flood"] for r in rows)
lines = [f"Made by `{command}`: chatbench `{load}` (100 clients from 127.0.0.1, exempt; 10 of "
         f"them send 40 lines a second each) with and without {flood} connections a second "
         "from 127.0.0.2 (the last 1,000 held open), which the default per-address limits "
         "refuse. The same server for both runs of a repeat, the order turned each time; "
         "medians of the repeats. Latency in ms, of the measured clients' lines.", "",
         "| mode | flood/s | flood connections | refused | delivered | lost | p50 | p99 | max | server peak RSS MB |",
         "|---|---|---|---|---|---|---|---|---|---|"]
for mode in ("poll", "threads"):
    for f in (0, flood):
        rs = [r for r in rows if r["mode"] == mode and r["flood"] == f]
        if not rs:
            continue
        rss = med([r.get("server_peak_rss_kib", 0) for r in rs]) / 1024
        lines.append(f"| {mode} | {f} | {med([r['connect_flood_made'] for r in rs]):.0f} "
                     f"| {med([r['refused'] for r in rs]):.0f} | {med([r['received'] for r in rs]):.0f} "
                     f"| {med([r['lost'] for r in rs]):.0f} | {ms(med([r['p50_us'] for r in rs]))} "
                     f"| {ms(med([r['p99_us'] for r in rs]))} | {ms(med([r['max_us'] for r in rs]))} | {rss:.1f} |")
lines.append("")
open(out, "w").write("\n".join(lines))
print(f"wrote {out}")
PY
