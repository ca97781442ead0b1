#!/usr/bin/env bash
# One node against three nodes of a cluster, on the same work, in one run; writes a report
# (default bench/cluster.md) and its raw runs (the same name, .jsonl).
#
#   scripts/cluster-bench.sh [--repeat R (3)] [--mode poll|threads (poll)] [--out FILE]
#   scripts/cluster-bench.sh --interest [--repeat R] [--mode M] [--out FILE]
#
# A nats-server of its own (JetStream, temporary store, monitoring on, free ports); chatd
# --msg-rate 0; chatbench with 200 clients, 10 senders, spread over the nodes in turn:
#   paced     1,000 messages/s in all, for 2 s
#   flat out  300 messages per sender, as fast as they go
# Rows: 1 node (plain, no cluster), 1 node in a cluster (the same code path as 3), 3 nodes.
# Messages through the broker are its own count (in_msgs, out_msgs from /varz) over the run.
#
# --interest measures instead what each node receives from the broker when clients are
# spread over many rooms: 3 nodes, 600 clients in 300 rooms (chatbench --rooms), 300 senders,
# 20 lines each; each node's messages from the broker (its connection's out_msgs in /connz,
# the node told by its socket) over a run, less those of the same run with no lines (joins,
# moves, beats); against the lines its clients needed and all the other nodes' lines. Its
# table replaces the "Interest" section of the report, which the other runs keep.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

repeat=3 mode=poll out=$ROOT/bench/cluster.md interest=no
while [ $# -gt 0 ]; do
    case $1 in
        --interest) interest=yes; shift ;;
        --repeat) repeat=$2; shift 2 ;;
        --mode) mode=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
command -v nats-server >/dev/null || PATH=$PATH:/usr/sbin
command -v nats-server >/dev/null || { echo "needs nats-server (apt-get install nats-server)" >&2; exit 1; }
(cd "$ROOT" && cargo build --release --quiet --bins)
work=$(mktemp -d)
raw=${out%.md}.jsonl
[ "$interest" = yes ] && raw=${out%.md}-interest.jsonl
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

# received_by_node PIDS...: the broker's out_msgs to each node's connection, in PIDS' order.
received_by_node() {
    local conns
    conns=$(curl -sf "http://127.0.0.1:$mon_port/connz?limit=1000")
    python3 - "$nats_port" "$conns" "$@" <<'PY'
import json, re, subprocess, sys
nats_port, conns, pids = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
# The broker knows a connection by its client port; ss knows which process has that port.
ss = subprocess.run(["ss", "-tnpH", "dst", "127.0.0.1:" + nats_port], capture_output=True, text=True).stdout
port_of = {}
for line in ss.splitlines():
    m = re.search(r"127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:\d+.*pid=(\d+)", line)
    if m:
        port_of[m.group(2)] = int(m.group(1))
out = {c["port"]: c["out_msgs"] for c in conns["connections"] if c.get("name", "").startswith("chatd node")}
print(" ".join(str(out.get(port_of.get(p), 0)) for p in pids))
PY
}

if [ "$interest" = yes ]; then
    for rep in $(seq "$repeat"); do
        for lines in 0 20; do
            cluster_name=interest$rep$lines
            start_nodes 3 yes
            sleep 1
            read -r -a before < <(received_by_node "${NODE_PIDS[@]}")
            echo "== interest, $lines lines per sender, run $rep"
            json=$("$CHATBENCH" --nodes "$NODES" -n 600 -s 300 -m "$lines" --rooms 300 --json)
            read -r -a after < <(received_by_node "${NODE_PIDS[@]}")
            python3 -c '
import json, sys
row = json.loads(sys.argv[1])
n = len(sys.argv[5:]) // 2
before, after = sys.argv[5:5 + n], sys.argv[5 + n:]
row.update(rep=sys.argv[2], lines=int(sys.argv[3]), mode=sys.argv[4],
           node_received=[int(a) - int(b) for a, b in zip(after, before)])
print(json.dumps(row))' "$json" "$rep" "$lines" "$mode" "${before[@]}" "${after[@]}" >>"$raw"
            kill "${NODE_PIDS[@]}" 2>/dev/null || true
            wait "${NODE_PIDS[@]}" 2>/dev/null || true
        done
    done
    python3 - "$raw" "$out" "$repeat" "$mode" <<'PY'
import json, os, statistics, sys
raw, out, repeat, mode = sys.argv[1:5]
rows = [json.loads(l) for l in open(raw)]
quiet = {r["rep"]: r for r in rows if r["lines"] == 0}
busy = [r for r in rows if r["lines"] > 0]
nodes = len(busy[0]["node_received"])
med = lambda xs: statistics.median(xs)
lines = [
    "## Interest: a node receives the lines of the rooms it has clients in",
    "",
    f"`scripts/cluster-bench.sh --interest --repeat {repeat} --mode {mode}`: 3 nodes, 600 clients spread",
    "over 300 rooms (`chatbench --rooms 300`, rooms by a hash of the client's number), 300 senders",
    f"of 20 lines each; medians of {repeat} runs. *Received* is the broker's count of messages sent to",
    "the node's connection during the run, less that of the same run without lines (joins, moves,",
    "beats); *needed* are the other nodes' lines in rooms where the node has readers; *all* are the",
    "other nodes' lines. Before, every node read every subject and the broker echoed its own",
    "messages back: it received all the others' lines and its own (*before*).",
    "",
    "| node | its clients sent | needed from the others | all the others' | before | received (lines) | received / before |",
    "|---|---:|---:|---:|---:|---:|---:|",
]
for i in range(nodes):
    sent = med([r["node_lines_sent"][i] for r in busy])
    needed = med([r["node_lines_needed"][i] for r in busy])
    others = med([r["node_lines_of_others"][i] for r in busy])
    got = med([r["node_received"][i] - quiet[r["rep"]]["node_received"][i] for r in busy])
    lines.append(f"| {i + 1} | {sent:,.0f} | {needed:,.0f} | {others:,.0f} | {others + sent:,.0f} | {got:,.0f} | {got / (others + sent):.2f} |")
lost = med([r["lost"] for r in busy])
lines += ["", f"Lost deliveries: {lost:.0f} (median); deliveries/s {med([r['deliveries_per_sec'] for r in busy]):,.0f}."]
section = "\n".join(lines) + "\n"
text = open(out).read() if os.path.exists(out) else ""
head = text.split("## Interest:")[0].rstrip("\n")
open(out, "w").write((head + "\n\n" if head else "") + section)
print(section)
PY
    exit 0
fi

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
# The interest section (see --interest) stays.
import os
kept = ""
if os.path.exists(out) and "## Interest:" in open(out).read():
    kept = "\n## Interest:" + open(out).read().split("## Interest:", 1)[1]
open(out, "w").write("\n".join(lines) + "\n" + kept)
print("\n".join(lines))
PY
