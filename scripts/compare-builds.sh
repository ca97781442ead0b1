#!/usr/bin/env bash
# Two builds of chatd on the same work, alternating, in one run: did a change cost anything?
# For a refactor, the figures of the old and the new build should be within noise.
#
#   scripts/compare-builds.sh OLD_BIN_DIR NEW_BIN_DIR [--repeat R] [--modes "poll threads"]
#                             [--workloads "fanout crowd room200 idle"]
#
# Each *_BIN_DIR holds a chatd and a chatbench (a copy of target/release/ from each commit).
# Workloads, each run R times (default 5) per mode and build, the builds alternating:
#   fanout  1,000 clients, 1 sender flat out, 3 M deliveries (--msg-rate 0)
#   crowd   1,000 clients, 10 senders flat out, 3 M deliveries (--msg-rate 0)
#   room200   200 clients, 10 senders flat out, 3 M deliveries (--msg-rate 0)
#   idle    5,000 clients connected, one message: the server's RSS per connection
# Prints one line per run and the medians; everything on loopback.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ $# -ge 2 ] || { sed -n '2,15p' "$0"; exit 2; }
old=$1 new=$2
shift 2
repeat=5 modes="poll threads" workloads="fanout crowd idle"
while [ $# -gt 0 ]; do
    case $1 in
        --repeat) repeat=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        --workloads) workloads=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
log=$(mktemp) results=$(mktemp)
trap 'stop_server; rm -f "$log" "$results"' EXIT

field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

run() {
    local build=$1 dir=$2 mode=$3 workload=$4 args
    case $workload in
        fanout) args="-n 1000 -s 1 -m 3000" ;;
        crowd) args="-n 1000 -s 10 -m 300" ;;
        room200) args="-n 200 -s 10 -m 1500" ;;
        idle) args="-n 5000 -s 1 -m 1" ;;
    esac
    start_server "$log" "$dir/chatd" --port 0 --mode "$mode" -q --msg-rate 0 --max-clients 6000
    local out
    # shellcheck disable=SC2086
    out=$("$dir/chatbench" --port "$SERVER_PORT" $args -p 32 --server-pid "$SERVER_PID" --json \
          --time-limit 10 2>/dev/null || echo '{}')
    stop_server
    local value
    case $workload in
        idle) value=$(echo "$out" | field server_rss_per_conn_bytes) ;;
        *) value=$(echo "$out" | field deliveries_per_sec) ;;
    esac
    local lost
    lost=$(echo "$out" | field lost)
    printf '%-8s %-4s %-7s %12s  lost %s\n' "$mode" "$build" "$workload" "${value:-failed}" "${lost:-?}"
    echo "$mode $workload $build ${value:-0}" >>"$results"
}

for rep in $(seq "$repeat"); do
    for mode in $modes; do
        for workload in $workloads; do
            # Alternate which build goes first, so neither always gets the warmer machine.
            if [ $((rep % 2)) = 1 ]; then order="old new"; else order="new old"; fi
            for build in $order; do
                dir=$old; [ "$build" = new ] && dir=$new
                run "$build" "$dir" "$mode" "$workload"
            done
        done
    done
done

echo
echo "medians of $repeat runs (deliveries/s for fanout, crowd and room200; RSS bytes per connection for idle):"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    mode, workload, build, value = line.split()
    rows.setdefault((mode, workload), {}).setdefault(build, []).append(float(value))
print(f"{'mode':8} {'work':7} {'old':>12} {'new':>12} {'new/old':>8}")
for (mode, workload), b in rows.items():
    o, n = statistics.median(b.get("old", [0])), statistics.median(b.get("new", [0]))
    print(f"{mode:8} {workload:7} {o:12.0f} {n:12.0f} {n / o if o else 0:8.3f}")
PY
