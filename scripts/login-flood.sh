#!/usr/bin/env bash
# A /login flood beside a paced chat, both modes: chatbench's 200 clients (10 senders, 1,000
# lines a second in all, for 10 s) with and without --login-flood (wrong /logins from 50
# addresses, 127.0.1.x, each as fast as it is answered; half at one name, half at names of
# their own). chatd hashes a checked try (Argon2id, on its hashing pool) and slows wrong tries
# by address and by account before any hashing. Each repeat measures both on one server, the
# order turned each time; the table gives the chat's latency both ways, what the flood's tries
# were answered, and the server's peak memory.
#
#   scripts/login-flood.sh [--tries 1000] [--repeat 3] [--out FILE]
#
# Writes --out (default bench/login-flood.md). Loopback only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

tries=1000 repeat=3 out=$ROOT/bench/login-flood.md
while [ $# -gt 0 ]; do
    case $1 in
        --tries) tries=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
bench_files "$out"
raw=$RAW log=$LOG
load=(-n 200 -s 10 -r 1000 -m 1000)

for rep in $(seq "$repeat"); do
    for mode in poll threads; do
        start_server "$log" "$CHATD" --port 0 --mode "$mode" -q --msg-rate 0 --store none
        order="0 $tries"
        [ $((rep % 2)) -eq 0 ] && order="$tries 0"
        for f in $order; do
            result=$("$CHATBENCH" --port "$SERVER_PORT" "${load[@]}" --login-flood "$f" \
                     --server-pid "$SERVER_PID" --json)
            echo "{\"mode\":\"$mode\",\"flood\":$f,\"rep\":$rep,${result#\{}" >>"$raw"
            echo "$mode flood $f rep $rep: $(echo "$result" | cut -c1-120)"
        done
        stop_server
    done
done

python3 - "$raw" "$out" "scripts/login-flood.sh --tries $tries --repeat $repeat" "${load[*]}" <<'PY'
import json, statistics, sys
raw, out, command, load = sys.argv[1:5]
rows = [json.loads(l) for l in open(raw) if l.strip()]
med = lambda vals: statistics.median(vals) if vals else 0
ms = lambda us: f"{us / 1000:.2f}"
flood = max(r["flood"] for r in rows)
lines = [f"Made by `{command}`: chatbench `{load}` (200 clients; 10 of them send 100 lines a "
         f"second each, 1,000 in all, for 10 s) with and without {flood} wrong `/login`s from "
         "50 addresses, each as fast as it is answered. The same server for both runs of a "
         "repeat, the order turned each time; medians of the repeats. Latency in ms, of the "
         "chat's lines.", "",
         "| mode | login tries | checked (hashed) | told to wait | busy | delivered | lost | p50 | p99 | max | server peak RSS MB |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
for mode in ("poll", "threads"):
    for f in (0, flood):
        rs = [r for r in rows if r["mode"] == mode and r["flood"] == f]
        if not rs:
            continue
        rss = med([r.get("server_peak_rss_kib", 0) for r in rs]) / 1024
        lines.append(f"| {mode} | {med([r['login_flood_tries'] for r in rs]):.0f} "
                     f"| {med([r['login_flood_wrong'] for r in rs]):.0f} "
                     f"| {med([r['login_flood_waited'] for r in rs]):.0f} "
                     f"| {med([r['login_flood_busy'] for r in rs]):.0f} "
                     f"| {med([r['received'] for r in rs]):.0f} "
                     f"| {med([r['lost'] for r in rs]):.0f} | {ms(med([r['p50_us'] for r in rs]))} "
                     f"| {ms(med([r['p99_us'] for r in rs]))} | {ms(med([r['max_us'] for r in rs]))} | {rss:.1f} |")
lines.append("")
open(out, "w").write("\n".join(lines))
print(f"wrote {out}")
PY
