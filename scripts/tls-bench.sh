#!/usr/bin/env bash
# TLS against plain, and what a storm of TLS handshakes costs a chat already going on; writes a
# report (default bench/tls.md) and its raw runs (the same name, .jsonl).
#
#   scripts/tls-bench.sh [--repeat R (3)] [--out FILE] [--quick] [--parts "1 2"]
#
# Part 1, poll mode, one server with both listeners per run, chatd --msg-rate 0:
#   1,000 clients, 1 sender; paced (200 messages/s for 3 s: 200k deliveries/s asked) and flat
#   out (1,000 messages: about 1 M deliveries); plain clients against TLS clients.
# Part 2, both modes: 100 plain clients, 1 sender at 200 messages/s for 10 s; 3 s in, 1,000
#   TLS clients connect at once (all their handshakes in flight together) and stay. The chat's
#   p99 with the storm against the same run without it, and with a storm of 1,000 plain
#   clients instead (what the joins cost, TLS aside).
# chatbench is the TLS client too, on the same two cores: its own decryption is in the figures,
# so TLS's cost to the server is overstated, not hidden.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

repeat=3 out=$ROOT/bench/tls.md parts="1 2"
while [ $# -gt 0 ]; do
    case $1 in
        --repeat) repeat=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --quick) repeat=1 out=$ROOT/target/tls-quick.md; shift ;;
        --parts) parts=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
(cd "$ROOT" && cargo build --release --quiet --bins)
certs=$(mktemp -d)
log=$(mktemp)
trap 'stop_server; rm -rf "$certs" "$log"' EXIT
"$ROOT/scripts/make-cert.sh" "$certs" >/dev/null
raw=${out%.md}.jsonl
mkdir -p "$(dirname "$out")"
: >"$raw"

# serve MODE: a fresh chatd with a plain and a TLS listener; sets SERVER_PORT and TLS_PORT.
serve() {
    start_server "$log" "$CHATD" --mode "$1" --port 0 --tls-port 0 --tls-cert "$certs/cert.pem" \
        --tls-key "$certs/key.pem" --msg-rate 0 -q
    TLS_PORT=
    for _ in $(seq 100); do
        TLS_PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\) .*tls.*/\1/p' "$log")
        [ -n "$TLS_PORT" ] && return 0
        sleep 0.05
    done
    echo "no TLS listener" >&2
    return 1
}

# record KEY=VALUE... < chatbench JSON: one line of raw.jsonl.
has_part() { [[ " $parts " == *" $1 "* ]]; }
for rep in $(seq "$repeat"); do
    has_part 1 && for transport in plain tls; do
        for load in paced flat; do
            serve poll
            port=$SERVER_PORT tls=
            [ "$transport" = tls ] && port=$TLS_PORT tls=--tls
            args="-s 1 -m 1000"
            [ "$load" = paced ] && args="-s 1 -r 200 -m 600"
            echo "== part 1: $transport $load, run $rep"
            # shellcheck disable=SC2086
            "$CHATBENCH" --port "$port" $tls -n 1000 $args --server-pid "$SERVER_PID" --json \
                | record part=1 transport="$transport" load="$load" rep="$rep"
            stop_server
        done
    done
    has_part 2 && for mode in ${MODES:-poll threads}; do
        for storm in none plain tls; do
            serve "$mode"
            echo "== part 2: $mode, $storm, run $rep"
            chat_json=$(mktemp)
            "$CHATBENCH" --port "$SERVER_PORT" -n 100 -s 1 -r 200 -m 2000 --json >"$chat_json" &
            chat_pid=$!
            storm_json='{}'
            if [ "$storm" != none ]; then
                sleep 3
                if [ "$storm" = tls ]; then
                    storm_to="--port $TLS_PORT --tls"
                else
                    storm_to="--port $SERVER_PORT"
                fi
                # shellcheck disable=SC2086
                storm_json=$("$CHATBENCH" $storm_to -n 1000 -s 0 -m 0 \
                    --connect-concurrency 1000 --settle-ms 0 --json)
            fi
            wait "$chat_pid"
            python3 -c '
import json, sys
chat = json.load(open(sys.argv[1]))
storm = json.loads(sys.argv[2])
chat["storm_connected"] = storm.get("connected", 0)
chat["storm_greeted"] = storm.get("greeted", 0)
chat["storm_greet_secs"] = storm.get("greet_secs", 0)
print(json.dumps(chat))' "$chat_json" "$storm_json" \
                | record part=2 mode="$mode" storm="$storm" rep="$rep"
            rm -f "$chat_json"
            stop_server
        done
    done
done

python3 - "$raw" "$out" "$repeat" <<'PY'
import json, statistics, sys
raw, out, repeat = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in open(raw)]
def med(xs):
    return statistics.median(xs) if xs else float("nan")
def cell(sel, key):
    xs = [float(r[key]) for r in rows if all(r.get(k) == v for k, v in sel.items())]
    return med(xs), (min(xs) if xs else 0), (max(xs) if xs else 0), len(xs)
lines = [
    "# TLS against plain; a handshake storm during a chat",
    "",
    f"`scripts/tls-bench.sh --repeat {repeat}`: medians of {repeat} runs (range in brackets).",
    "",
    "## 1,000 clients, 1 sender, poll mode",
    "",
    "| load | transport | deliveries/s | p99 | lost |",
    "|---|---|---:|---:|---:|",
]
for load, name in [("paced", "paced, 200 msg/s"), ("flat", "flat out")]:
    for t in ["plain", "tls"]:
        sel = {"part": "1", "load": load, "transport": t}
        d = cell(sel, "deliveries_per_sec")
        p = cell(sel, "p99_us")
        lost = cell(sel, "lost")
        lines.append(f"| {name} | {t} | {d[0]:,.0f} [{d[1]:,.0f}-{d[2]:,.0f}] | "
                     f"{p[0]/1000:.1f} ms [{p[1]/1000:.1f}-{p[2]/1000:.1f}] | {lost[0]:.0f} |")
    ratio = cell({"part": "1", "load": load, "transport": "tls"}, "deliveries_per_sec")[0] / \
        max(cell({"part": "1", "load": load, "transport": "plain"}, "deliveries_per_sec")[0], 1)
    lines.append(f"| {name} | TLS / plain | {ratio:.2f} | | |")
lines += [
    "",
    "## 100 clients chatting (1 sender, 200 msg/s, 10 s); 1,000 clients connect at once, 3 s in",
    "",
    "| mode | storm | chat p99 | chat p99.9 | chat max | lost | storm: all greeted after |",
    "|---|---|---:|---:|---:|---:|---:|",
]
for mode in ["poll", "threads"]:
    for storm in ["none", "plain", "tls"]:
        sel = {"part": "2", "mode": mode, "storm": storm}
        p99, p999, mx = cell(sel, "p99_us"), cell(sel, "p999_us"), cell(sel, "max_us")
        lost = cell(sel, "lost")
        g = cell(sel, "storm_greet_secs")
        greeted = cell(sel, "storm_greeted")
        gtext = f"{g[0]:.2f} s ({greeted[0]:.0f} of 1,000)" if storm != "none" else "-"
        what = {"none": "none", "plain": "1,000 plain", "tls": "1,000 TLS"}[storm]
        lines.append(f"| {mode} | {what} | "
                     f"{p99[0]/1000:.1f} ms [{p99[1]/1000:.1f}-{p99[2]/1000:.1f}] | "
                     f"{p999[0]/1000:.1f} ms | {mx[0]/1000:.1f} ms | {lost[0]:.0f} | {gtext} |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
