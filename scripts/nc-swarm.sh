#!/usr/bin/env bash
# Spawns N real nc clients against chatd; each sends K lines; checks that every client got every
# other client's lines, once each, in order, and never its own.
#
#   scripts/nc-swarm.sh [--mode poll|threads] [--clients N] [--lines K] [--port P] [--timeout S]
#
# Without --port it builds and starts its own chatd on a free port of 127.0.0.1.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mode=poll clients=300 lines=3 port= timeout=60
while [ $# -gt 0 ]; do
    case $1 in
        --mode) mode=$2; shift 2 ;;
        --clients) clients=$2; shift 2 ;;
        --lines) lines=$2; shift 2 ;;
        --port) port=$2; shift 2 ;;
        --timeout) timeout=$2; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
command -v nc >/dev/null || { echo "nc not found (apt-get install netcat-openbsd)" >&2; exit 2; }

dir=$(mktemp -d)
cleanup() {
    for fd in "${fds[@]:-}"; do [ -n "$fd" ] && exec {fd}>&- 2>/dev/null || true; done
    [ ${#ncs[@]} -gt 0 ] && kill "${ncs[@]}" 2>/dev/null || true
    stop_server
    rm -rf "$dir"
}
trap cleanup EXIT
fds=() ncs=()

if [ -z "$port" ]; then
    [ -x "$CHATD" ] || (cd "$ROOT" && cargo build --release --quiet --bin chatd)
    start_server "$dir/chatd.log" "$CHATD" --port 0 --mode "$mode" --max-clients $((clients + 10)) -q \
        --store "$dir/chatd.db"
    port=$SERVER_PORT
    label="chatd --mode $mode"
else
    label="server on port $port"
fi

started=$(date +%s.%N)
# Each client reads its stdin from a FIFO that this script holds open, so it decides when
# lines are sent and the connection stays up until the end.
for i in $(seq "$clients"); do
    mkfifo "$dir/in.$i"
    nc 127.0.0.1 "$port" <"$dir/in.$i" >"$dir/out.$i" 2>/dev/null &
    ncs+=($!)
    exec {fd}<>"$dir/in.$i"
    fds+=("$fd")
done

deadline=$(( $(date +%s) + timeout ))
wait_for() { # wait_for DESCRIPTION COMMAND...: until COMMAND succeeds or the deadline.
    local what=$1; shift
    until "$@"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then echo "FAIL: timed out waiting for $what"; exit 1; fi
        sleep 0.1
    done
}
all_welcomed() { [ "$(grep -l '^\* welcome ' "$dir"/out.* 2>/dev/null | wc -l)" -eq "$clients" ]; }
wait_for "$clients welcomes" all_welcomed
connected=$(date +%s.%N)

for i in $(seq "$clients"); do
    fd=${fds[$((i - 1))]}
    for k in $(seq "$lines"); do printf 'c%s l%s\n' "$i" "$k" >&"$fd"; done
done
want=$(( (clients - 1) * lines ))
all_received() {
    local n
    for f in "$dir"/out.*; do
        n=$(grep -c '^<[^>]*> c[0-9]* l[0-9]*$' "$f" || true)
        [ "$n" -ge "$want" ] || return 1
    done
}
wait_for "every line at every client" all_received
finished=$(date +%s.%N)

# Exactly once, in order, never one's own.
bad=0
for i in $(seq "$clients"); do
    verdict=$(awk -v me="$i" -v k="$lines" -v n="$clients" '
        /^<[^>]*> c[0-9]+ l[0-9]+$/ {
            split($2, a, "c"); split($3, b, "l"); s = a[2]; l = b[2]
            if (s == me) { print "own line"; exit }
            if (l != next_[s] + 1) { print "from c" s ": l" l " after l" next_[s] + 0; exit }
            next_[s] = l
        }
        END { for (s = 1; s <= n; s++) if (s != me && next_[s] != k) { print "missing from c" s; exit } }
    ' "$dir/out.$i")
    if [ -n "$verdict" ]; then echo "client $i: $verdict"; bad=$((bad + 1)); fi
done
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
summary="$clients nc clients x $lines lines against $label: connected in $(elapsed "$started" "$connected") s, all $((clients * want)) deliveries in $(elapsed "$connected" "$finished") s"
if [ "$bad" -eq 0 ]; then
    echo "PASS: $summary"
else
    echo "FAIL: $bad clients wrong; $summary"
    exit 1
fi
