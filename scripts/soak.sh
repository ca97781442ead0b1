#!/usr/bin/env bash
# Soak: both modes at once, for a bounded time, under steady measured traffic and abuse.
#
#   scripts/soak.sh [--quick] [--seconds S] [--sequential] [--out FILE]
#
# Default 600 s (--quick: 60 s). Against each mode, side by side: chatbench rounds of
# well-behaved traffic (50 clients, 5 senders, 50 messages/s in all, 10 s a round), and
# scripts/abusers.py (churn with resets, slow consumers, a flooder, garbage senders), the
# servers run with --flood-after 10 (see below). With
# --sequential, one mode after the other, S seconds each, so that neither takes the other's CPU
# (on 2 cores poll mode's one thread otherwise waits behind threads mode's many, which shows in
# its p99). Reports, per mode: messages lost among well-behaved clients (must be 0), server RSS
# and open fds at the start, after warm-up and at the end (fds must return to the start; RSS
# within 32 MiB of warm-up), whether the server survived, and the well-behaved clients' p99
# latency per round.
# Writes a markdown table to --out (default bench/soak.md; with --quick target/soak-quick.md, so
# that a quick try never overwrites the committed results). Loopback only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

seconds=600 out= sequential=0 quick=0
while [ $# -gt 0 ]; do
    case $1 in
        --quick) seconds=60 quick=1; shift ;;
        --seconds) seconds=$2; shift 2 ;;
        --sequential) sequential=1; shift ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$out" ]; then
    if [ "$quick" = 1 ]; then out=$ROOT/target/soak-quick.md; else out=$ROOT/bench/soak.md; fi
fi
(cd "$ROOT" && cargo build --release --quiet --bins)
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

soak_mode() { # soak_mode MODE: runs in the background, writes $work/MODE.*
    local mode=$1 pid port
    # Each mode gets its own server; SERVER_PID/PORT are per subshell.
    # --flood-after 10: the abusers' flooder floods for the whole run. By default it would
    # only be paced, and once it closes, its megabytes of unread input would still be read at
    # --msg-rate for minutes (as a pipe into nc is: paced, never cut short), keeping its
    # descriptor open past the end of the run. An operator facing deliberate floods drops them;
    # so does the soak, which also keeps that path exercised.
    start_server "$work/$mode.log" "$CHATD" --port 0 --mode "$mode" -q --flood-after 10
    pid=$SERVER_PID port=$SERVER_PORT
    echo "$(fds "$pid") $(rss "$pid")" >"$work/$mode.start"
    python3 "$ROOT/scripts/abusers.py" 127.0.0.1 "$port" "$seconds" >"$work/$mode.abuse" 2>&1 &
    local abusers=$!
    local end=$(( $(date +%s) + seconds )) round=0
    while [ "$(date +%s)" -lt "$end" ]; do
        round=$((round + 1))
        "$CHATBENCH" --port "$port" -n 50 -s 5 -r 50 -m 100 --json --drain-timeout 5 \
            --settle-ms 0 --greet-timeout 10 >>"$work/$mode.rounds" 2>/dev/null \
            || echo '{"failed":true}' >>"$work/$mode.rounds"
        [ "$round" = 1 ] && echo "$(fds "$pid") $(rss "$pid")" >"$work/$mode.warm"
    done
    wait "$abusers" || true
    sleep 3 # let the last abusers' connections close
    if kill -0 "$pid" 2>/dev/null; then
        echo "$(fds "$pid") $(rss "$pid") alive" >"$work/$mode.end"
    else
        echo "0 0 dead" >"$work/$mode.end"
    fi
    SERVER_PID=$pid stop_server
}

started=$(date +%s)
for mode in poll threads; do
    soak_mode "$mode" &
    pids+=($!)
    if [ "$sequential" = 1 ]; then wait "$!"; fi
done
for p in "${pids[@]}"; do wait "$p"; done
pids=()

python3 - "$work" "$out" "$seconds" "$sequential" <<'PY'
import json, statistics, sys
work, out, seconds, sequential = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
how = "one mode after the other (`scripts/soak.sh --sequential`)" if sequential else "both modes at once (`scripts/soak.sh`)"
lines = [f"Soak of {seconds} s per mode, {how}.", "",
         "| mode | lost | dup | failed rounds | fds start / warm / end | RSS KiB start / warm / end | server | p99 ms: median (max) of rounds | abusers |",
         "|---|---|---|---|---|---|---|---|---|"]
ok = True
over_time = []
for mode in ("poll", "threads"):
    rounds = [json.loads(l) for l in open(f"{work}/{mode}.rounds") if l.strip()]
    lost = sum(r.get("lost", 0) for r in rounds)
    dup = sum(r.get("duplicated", 0) + r.get("out_of_order", 0) for r in rounds)
    failed = sum(1 for r in rounds if r.get("failed") or r.get("stalled"))
    s_fd, s_rss = open(f"{work}/{mode}.start").read().split()
    w_fd, w_rss = open(f"{work}/{mode}.warm").read().split()
    e_fd, e_rss, alive = open(f"{work}/{mode}.end").read().split()
    p99s = [r["p99_us"] / 1000 for r in rounds if "p99_us" in r]
    p99 = f"{statistics.median(p99s):.1f} ({max(p99s):.1f}) of {len(p99s)}" if p99s else "-"
    over_time.append(f"- {mode}: " + " ".join(f"{v:.1f}" for v in p99s))
    abuse = open(f"{work}/{mode}.abuse").read().strip()
    verdict = (lost == 0 and dup == 0 and failed == 0 and alive == "alive"
               and int(e_fd) <= int(s_fd) and int(e_rss) <= int(w_rss) + 32 * 1024)
    ok &= verdict
    lines.append(f"| {mode} | {lost} | {dup} | {failed} | {s_fd} / {w_fd} / {e_fd} | {s_rss} / {w_rss} / {e_rss} "
                 f"| {alive} | {p99} | {abuse} |")
lines += ["", "p99 latency of the well-behaved clients over time (ms, one value per round of about 10 s):", ""]
lines += over_time
lines += ["", "PASS" if ok else "FAIL", ""]
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
sys.exit(0 if ok else 1)
PY
echo "soak took $(( $(date +%s) - started )) s; table in $out"
