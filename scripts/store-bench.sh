#!/usr/bin/env bash
# What remembering costs: chatd with its store (the default) against --store none, on the same
# work, alternating, in one run; then the store on its own (chatbench --store-bench), and how
# long a server takes to start on the file that made and serve its first client.
#
#   scripts/store-bench.sh [--repeat R (default 3)] [--modes "poll threads"]
#                          [--workloads "fanout room200"] [--parts "ratio store pagers"] [--quick]
#
# Workloads (flat out, --msg-rate 0), each R times per mode and store, the two alternating:
#   fanout  1,000 clients, 1 sender, 10,000 lines (10 M deliveries)
#   room200   200 clients, 10 senders, 5,000 lines each (10 M deliveries)
# After each run with the store, the file is checked: every line sent is in it, once.
# Then, on the file of a million lines: 200 clients, 10 senders at 2,000 lines/s in all, with
# and without 4 clients paging back (/history before) and searching (/search) flat out: the
# pagers' answer times, and whether the others' p99 moves.
# Prints one line per run, the medians and their ratio; everything on loopback, in a
# temporary folder removed at the end.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

repeat=3 modes="poll threads" quick= workloads="fanout room200" parts="ratio store pagers"
while [ $# -gt 0 ]; do
    case $1 in
        --repeat) repeat=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        --workloads) workloads=$2; shift 2 ;;
        --parts) parts=$2; shift 2 ;;
        --quick) quick=1; repeat=1; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
command -v sqlite3 >/dev/null || { echo "needs sqlite3" >&2; exit 2; }
(cd "$ROOT" && cargo build --release --quiet --bins)
work=$(mktemp -d) log=$(mktemp) results=$(mktemp)
trap 'stop_server; rm -rf "$work" "$log" "$results"' EXIT

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

run() {
    local mode=$1 workload=$2 store=$3 args lines
    case $workload in
        fanout) args="-n 1000 -s 1 -m 10000" lines=10000 ;;
        room200) args="-n 200 -s 10 -m 5000" lines=50000 ;;
    esac
    rm -f "$work"/chatd.db*
    local where=none
    [ "$store" = store ] && where=$work/chatd.db
    start_server "$log" "$CHATD" --port 0 --mode "$mode" -q --msg-rate 0 --max-clients 6000 \
        --store "$where"
    local out
    # shellcheck disable=SC2086
    out=$("$CHATBENCH" --port "$SERVER_PORT" $args -p 32 --server-pid "$SERVER_PID" --json \
          --time-limit 20 2>/dev/null || echo '{}')
    stop_server
    local value lost kept=-
    value=$(echo "$out" | field deliveries_per_sec)
    lost=$(echo "$out" | field lost)
    if [ "$store" = store ]; then
        kept=$(sqlite3 "$work/chatd.db" "SELECT count(*) || '/' || count(DISTINCT text) FROM lines")
    fi
    printf '%-8s %-8s %-6s %12s  lost %s  kept %s of %s\n' "$mode" "$workload" "$store" \
        "${value:-failed}" "${lost:-?}" "$kept" "$lines"
    echo "$mode $workload $store ${value:-0}" >>"$results"
}

[ -n "$quick" ] && workloads=fanout
has() { [[ " $parts " == *" $1 "* ]]; }
has ratio || repeat_ratio=0
for rep in $(seq "${repeat_ratio:-$repeat}"); do
    for mode in $modes; do
        for workload in $workloads; do
            if [ $((rep % 2)) = 1 ]; then order="store none"; else order="none store"; fi
            for store in $order; do
                run "$mode" "$workload" "$store"
            done
        done
    done
done

if has ratio; then
echo
echo "medians of $repeat runs, deliveries/s:"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    mode, workload, store, value = line.split()
    rows.setdefault((mode, workload), {}).setdefault(store, []).append(float(value))
print(f"{'mode':8} {'workload':8} {'--store none':>14} {'store':>14} {'ratio':>6}")
for (mode, workload), by in rows.items():
    none, store = statistics.median(by["none"]), statistics.median(by["store"])
    ratio = store / none if none else 0
    print(f"{mode:8} {workload:8} {none:14.0f} {store:14.0f} {ratio:6.2f}")
PY
fi
has store || has pagers || exit 0

echo
echo "the store on its own: chatbench --store-bench"
lines=1000000
[ -n "$quick" ] && lines=200000
if has store; then
    "$CHATBENCH" --store-bench "$work/sb" --store-lines "$lines"
else
    "$CHATBENCH" --store-bench "$work/sb" --store-lines "$lines" --store-rates 100000 \
        --store-step-ms 100 --store-questions 1 >/dev/null
fi

if has store; then
echo
echo "chatd started on that file: until its first client is welcomed (median of 5)"
python3 - "$CHATD" "$work/sb/bench.db" <<'PY'
import socket, statistics, subprocess, sys, time
chatd, db = sys.argv[1], sys.argv[2]
took = []
for _ in range(5):
    start = time.monotonic()
    p = subprocess.Popen([chatd, "--port", "0", "-q", "--store", db], stdout=subprocess.PIPE, text=True)
    port = int(p.stdout.readline().split()[2].rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port))
    s.makefile().readline()
    took.append(time.monotonic() - start)
    store = p.stdout.readline().strip()
    s.close()
    p.terminate()
    p.wait()
print(f"{store}\nstart to first welcome: median {statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms")
PY
fi
has pagers || exit 0

echo
echo "on that file, 200 clients and 10 senders at 2,000 lines/s, with and without 4 pagers:"
last=$(sqlite3 "$work/sb/bench.db" "SELECT max(id) FROM lines")
for rep in $(seq "$repeat"); do
    for pagers in 0 4; do
        start_server "$log" "$CHATD" --port 0 -q --msg-rate 0 --store "$work/sb/bench.db"
        out=$("$CHATBENCH" --port "$SERVER_PORT" -n 200 -s 10 -m 1000 -r 2000 -p 32 \
              --pagers "$pagers" --pager-ids "$last" --json 2>/dev/null || echo '{}')
        stop_server
        printf 'pagers %s: others p99 %s us, lost %s; pagers %s answers, p50 %s us, p99 %s us, %s errors\n' \
            "$pagers" "$(echo "$out" | field p99_us)" "$(echo "$out" | field lost)" \
            "$(echo "$out" | field pager_answers)" "$(echo "$out" | field pager_p50_us)" \
            "$(echo "$out" | field pager_p99_us)" "$(echo "$out" | field pager_errors)"
    done
done
