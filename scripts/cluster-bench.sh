#!/usr/bin/env bash
# One node against three nodes of a cluster, on the same work, in one run; writes a report
# (default bench/cluster.md) and its raw runs (the same name, .jsonl).
#
#   scripts/cluster-bench.sh [--repeat R (3)] [--mode poll|threads (poll)] [--out FILE]
#
# A nats-server of its own (JetStream, temporary store, monitoring on, free ports); chatd
# --msg-rate 0; chatbench with 200 clients, 10 senders, spread over the nodes in turn:
#   paced     1,000 messages/s in all, for 2 s
#   flat out  300 messages per sender, as fast as they go
# Rows: 1 node (plain, no cluster), 1 node in a cluster (the same code path as 3), 3 nodes.
# Messages through the broker are its own count (in_msgs, out_msgs from /varz) over the run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

repeat=3 mode=poll out=$ROOT/bench/cluster.md
while [ $# -gt 0 ]; do
    case $1 in
        --repeat) repeat=$2; shift 2 ;;
        --mode) mode=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
command -v nats-server >/dev/null || PATH=$PATH:/usr/sbin
command -v nats-server >/dev/null || { echo "needs nats-server (apt-get install nats-server)" >&2; exit 1; }
(cd "$ROOT" && cargo build --release --quiet --bins)
work=$(mktemp -d)
raw=${out%.md}.jsonl
mkdir -p "$(dirname "$out")"
: >"$raw"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nats_port=$(free_port) mon_port=$(free_port)
nats-server -js -a 127.0.0.1 -p "$nats_port" -m "$mon_port" -sd "$work/js" >"$work/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$mon_port/varz" >/dev/null && break
    sleep 0.05
done
varz() { curl -sf "http://127.0.0.1:$mon_port/varz" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v["in_msgs"], v["out_msgs"])'; }

# start_nodes N CLUSTERED: sets NODES (host:port,...) and NODE_PIDS.
start_nodes() {
    local n=$1 clustered=$2 i log port
    NODES= NODE_PIDS=()
    for i in $(seq "$n"); do
        log=$work/node$i.log
        if [ "$clustered" = yes ]; then
            "$CHATD" --mode "$mode" --port 0 --msg-rate 0 -q --cluster "nats://127.0.0.1:$nats_port" \
                --cluster-name "$cluster_name" >"$log" 2>&1 &
        else
            "$CHATD" --mode "$mode" --port 0 --msg-rate 0 -q >"$log" 2>&1 &
        fi
        NODE_PIDS+=($!)
        for _ in $(seq 100); do
            port=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\) .*/\1/p' "$log" | head -n 1)
            [ -n "$port" ] && break
            sleep 0.05
        done
        NODES=${NODES:+$NODES,}127.0.0.1:$port
    done
}

for rep in $(seq "$repeat"); do
    for setup in single one three; do
        for load in paced flat; do
            # A cluster of its own for each run: nothing left over from the last one.
            cluster_name=bench$rep$setup$load
            case $setup in
                single) start_nodes 1 no ;;
                one) start_nodes 1 yes ;;
                three) start_nodes 3 yes ;;
            esac
            sleep 1  # let the nodes meet through the broker
            args="-s 10 -m 300"
            [ "$load" = paced ] && args="-s 10 -r 1000 -m 200"
            read -r in0 out0 < <(varz)
            echo "== $setup $load, run $rep"
            # shellcheck disable=SC2086
            json=$("$CHATBENCH" --nodes "$NODES" -n 200 $args --json)
            read -r in1 out1 < <(varz)
            python3 -c '
import json, sys
row = json.loads(sys.argv[1])
row.update(setup=sys.argv[2], load=sys.argv[3], rep=sys.argv[4],
           broker_in=int(sys.argv[6]) - int(sys.argv[5]), broker_out=int(sys.argv[8]) - int(sys.argv[7]))
print(json.dumps(row))' "$json" "$setup" "$load" "$rep" "$in0" "$in1" "$out0" "$out1" >>"$raw"
            kill "${NODE_PIDS[@]}" 2>/dev/null || true
            wait "${NODE_PIDS[@]}" 2>/dev/null || true
        done
    done
done

python3 - "$raw" "$out" "$repeat" "$mode" <<'PY'
import json, statistics, sys
raw, out, repeat, mode = sys.argv[1:5]
rows = [json.loads(l) for l in open(raw)]
def cell(setup, load, key):
    xs = [float(r[key]) for r in rows if r["setup"] == setup and r["load"] == load]
    return statistics.median(xs), min(xs), max(xs)
names = {"single": "1 node, no cluster", "one": "1 node in a cluster", "three": "3 nodes"}
lines = [
    f"# One node against three (--mode {mode})",
    "",
    f"`scripts/cluster-bench.sh --repeat {repeat} --mode {mode}`: medians of {repeat} runs (range in brackets);",
    "200 clients, 10 senders, spread over the nodes in turn.",
    "",
    "| load | setup | deliveries/s | p99 | lost | broker msgs in / out |",
    "|---|---|---:|---:|---:|---:|",
]
for load, lname in [("paced", "1,000 msg/s"), ("flat", "flat out")]:
    for setup in ["single", "one", "three"]:
        d = cell(setup, load, "deliveries_per_sec")
        p = cell(setup, load, "p99_us")
        lost = cell(setup, load, "lost")
        bi = cell(setup, load, "broker_in")
        bo = cell(setup, load, "broker_out")
        lines.append(f"| {lname} | {names[setup]} | {d[0]:,.0f} [{d[1]:,.0f}-{d[2]:,.0f}] | "
                     f"{p[0]/1000:.1f} ms [{p[1]/1000:.1f}-{p[2]/1000:.1f}] | {lost[0]:.0f} | "
                     f"{bi[0]:,.0f} / {bo[0]:,.0f} |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
