#!/usr/bin/env bash
# Measures chatd --mode poll and --mode threads, the report's own Python server
# (scripts/report_server.py) and the raw relay as a ceiling, on the same work in one run, and
# writes results.md, chart.svg and raw.jsonl: into bench/ for a full run, into
# target/bench-quick/ for --quick (so a quick try never overwrites the committed results).
#
#   scripts/compare-modes.sh [--quick] [--repeat R] [--clients "200 1000 5000 10000"]
#                            [--budget SECONDS] [--time-limit SECONDS] [--out DIR]
#                            [--servers "relay report poll threads"]
#
# Workloads, for each client count N (the relay and the report's server run the first five):
#   fanout   1 sender flat out, about 3 M deliveries in all
#   paced    1 sender at min(2000, 2e6/N) messages/s for 1 s
#   chatty   10 senders at min(1000, 1e6/N) messages/s in all, for 1 s
#   crowd    10 senders flat out, about 3 M deliveries in all
#   trickle  1 sender at 100 messages/s for 2 s
#   slow     fanout, plus one client that never reads (the report's server runs it too)
#   quiet    10 senders at min(200, 2e5/N) messages/s in all (each under the default
#            --msg-rate), for 2 s, with the server's default flood control
#   flooded  quiet, plus one client flooding flat out
# All but quiet and flooded run chatd with --msg-rate 0 (no flood control), since their
# senders go flat out on purpose. The report's server is not run past 5,000 clients (its
# connects alone take minutes there) and gets 64 handshakes in flight at once, not 256: its
# listen queue is Python's default of 128, and connections dropped from a full queue come in
# late, after sending has begun, and miss lines.
# Each cell runs R times (default 3) on a fresh server; the report gives the median and the range.
# Each run ends at most --time-limit seconds (default 6) after sending began: what is still to be
# delivered then counts as late, with its age as a lower bound on its latency.
# The loader and the server share this machine's cores: compare within one run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

quick=0 repeat=3 clients= budget=1800 limit=6 out= servers_asked="relay report poll threads"
while [ $# -gt 0 ]; do
    case $1 in
        --quick) quick=1; shift ;;
        --repeat) repeat=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --budget) budget=$2; shift 2 ;;
        --time-limit) limit=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --servers) servers_asked=$2; shift 2 ;;
        -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [ "$quick" = 1 ]; then
    clients=${clients:-"200 1000"} repeat=1 budget=300 scale=5 out=${out:-$ROOT/target/bench-quick}
else
    clients=${clients:-"200 1000 5000 10000"} scale=1 out=${out:-$ROOT/bench}
fi

(cd "$ROOT" && cargo build --release --quiet --bins)
mkdir -p "$out"
raw=$out/raw.jsonl
: >"$raw"
log=$(mktemp)
trap 'stop_server; rm -f "$log"' EXIT
started=$(date +%s)
skipped=0

# run_cell SERVER WORKLOAD N REP: one measurement, appended to raw.jsonl.
run_cell() {
    local server=$1 workload=$2 n=$3 rep=$4 args
    case $workload in
        fanout) args="-s 1 -m $(( 3000000 / scale / n + 1 ))" ;;
        paced) local r=$(( 2000000 / n < 2000 ? 2000000 / n : 2000 ))
               args="-s 1 -r $r -m $(( r / scale + 1 ))" ;;
        chatty) local r=$(( 1000000 / n < 1000 ? 1000000 / n : 1000 ))
                args="-s 10 -r $r -m $(( r / 10 / scale + 1 ))" ;;
        crowd) args="-s 10 -m $(( 300000 / scale / n + 1 ))" ;;
        trickle) args="-s 1 -r 100 -m $(( 200 / scale + 1 ))" ;;
        slow) args="-s 1 -m $(( 3000000 / scale / n + 1 )) --slow 1" ;;
        quiet|flooded) local r=$(( 200000 / n < 200 ? 200000 / n : 200 ))
               args="-s 10 -r $r -m $(( r * 2 / 10 / scale + 1 ))"
               [ "$workload" = flooded ] && args="$args --flooders 1" ;;
    esac
    local limits="--msg-rate 0"
    case $workload in quiet|flooded) limits="" ;; esac
    if [ $(( $(date +%s) - started )) -ge "$budget" ]; then
        skipped=$((skipped + 1))
        return
    fi
    # The raw relay and the report's server greet nobody: do not wait for greetings there.
    local greet=60 handshakes=256
    case $server in
        relay) greet=0; start_server "$log" "$CHATBENCH" --serve-relay --port 0 ;;
        report) greet=0 handshakes=64
                start_server "$log" python3 "$ROOT/scripts/report_server.py" --port 0 ;;
        # shellcheck disable=SC2086
        *) start_server "$log" "$CHATD" --port 0 --mode "$server" -q --max-clients $((n + 100)) $limits ;;
    esac
    local result
    # shellcheck disable=SC2086
    if ! result=$("$CHATBENCH" --port "$SERVER_PORT" -n "$n" $args -p 32 --server-pid "$SERVER_PID" \
                  --json --greet-timeout "$greet" --connect-concurrency "$handshakes" --drain-timeout 5 --time-limit "$limit" \
                  2>/dev/null); then
        result='{"connected":0,"failed":true}'
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        result=${result%\}}',"server_died":true}'
    fi
    stop_server
    printf '{"server":"%s","workload":"%s","clients":%s,"rep":%s,"args":"%s",%s\n' \
        "$server" "$workload" "$n" "$rep" "$args" "${result#\{}" >>"$raw"
    printf '%-8s %-7s %6s clients  rep %s  %s\n' "$server" "$workload" "$n" "$rep" \
        "$(echo "$result" | sed 's/.*"deliveries_per_sec":\([0-9]*\).*"p99_us":\([0-9]*\).*/\1 deliveries\/s, p99 \2 us/')"
}

for rep in $(seq "$repeat"); do
    for n in $clients; do
        for workload in fanout paced chatty crowd trickle slow quiet flooded; do
            case $workload in
                slow) servers="report poll threads" ;;
                quiet|flooded) servers="poll threads" ;;
                *) servers="relay report poll threads" ;;
            esac
            for server in $servers; do
                case " $servers_asked " in *" $server "*) ;; *) continue ;; esac
                if [ "$server" = report ] && [ "$n" -gt 5000 ]; then continue; fi
                run_cell "$server" "$workload" "$n" "$rep"
            done
        done
    done
done

python3 "$ROOT/scripts/bench_report.py" "$raw" "$out/results.md" "$out/chart.svg" \
    "scripts/compare-modes.sh $*" "$skipped"
echo "wrote $out/results.md and $out/chart.svg in $(( $(date +%s) - started )) s"
[ "$skipped" -eq 0 ] || echo "time budget reached: $skipped cells skipped"
