#!/usr/bin/env bash
# Where poll mode's time goes per delivered message, on the fan-out workload (one sender flat out
# to N clients): the work the raw relay also does, plus chatd's framing and chat rules.
#
#   scripts/profile-poll.sh [--clients N] [--messages M] [--no-valgrind] [--no-perf]
#
# 1. CPU split: the server's user and system time (from /proc) over one run, per delivery.
# 2. System calls: strace -c counts them per delivery (strace slows the server; counts only).
# 3. Samples: perf record on the software cpu-clock, kernel and user alike: the top symbols.
# 4. Instructions: valgrind's callgrind counts user-space instructions per delivery, by
#    function; repeatable whatever else the machine does (it is 50 times slower, so each of its
#    loop turns carries more messages than in a real run).
# The server is built with line tables in target/profile, apart from the normal build.
# Loopback only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

clients=1000 messages=5001 valgrind=1 perf=1
while [ $# -gt 0 ]; do
    case $1 in
        --clients) clients=$2; shift 2 ;;
        --messages) messages=$2; shift 2 ;;
        --no-valgrind) valgrind=0; shift ;;
        --no-perf) perf=0; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
(cd "$ROOT" && cargo build --release --quiet --bin chatbench &&
    CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release --quiet \
        --target-dir target/profile --bin chatd)
server=$ROOT/target/profile/release/chatd
work=$(mktemp -d)
trap 'stop_server; rm -rf "$work"' EXIT
deliveries=$(( (messages) * (clients - 1) ))

# bench M: the fan-out run against SERVER_PORT; prints chatbench's JSON.
bench() {
    "$CHATBENCH" --port "$SERVER_PORT" -n "$clients" -s 1 -m "$1" -p 32 --json \
        --drain-timeout 20
}
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
# cpu_ticks PID: user and system clock ticks so far.
cpu_ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }

echo "== fan-out: 1 sender, $messages messages, $clients clients ($deliveries deliveries)"

echo "-- 1. CPU split"
start_server "$work/log" "$server" --port 0 -q --msg-rate 0 --max-clients $((clients + 10))
read -r u0 s0 < <(cpu_ticks "$SERVER_PID")
out=$(bench "$messages")
read -r u1 s1 < <(cpu_ticks "$SERVER_PID")
stop_server
hz=$(getconf CLK_TCK)
got=$(echo "$out" | field received)
python3 - "$u0" "$s0" "$u1" "$s1" "$hz" "$got" "$(echo "$out" | field deliveries_per_sec)" <<'PY'
import sys
u0, s0, u1, s1, hz, got, rate = map(float, sys.argv[1:])
user, system = (u1 - u0) / hz, (s1 - s0) / hz
total = user + system
print(f"{got:.0f} deliveries at {rate / 1e6:.2f} M/s; server CPU {total:.2f} s: "
      f"user {user:.2f} s ({100 * user / max(total, 1e-9):.0f}%), "
      f"system {system:.2f} s ({100 * system / max(total, 1e-9):.0f}%); "
      f"{1e9 * total / max(got, 1):.0f} ns of CPU per delivery")
PY

echo "-- 2. system calls (strace -c)"
start_server "$work/log" strace -c -o "$work/strace" "$server" --port 0 -q --msg-rate 0 \
    --max-clients $((clients + 10))
got=$(bench "$messages" | field received)
# strace writes its summary once chatd (its child) has exited.
pkill -TERM -P "$SERVER_PID" || true
wait "$SERVER_PID" || true
SERVER_PID=
awk -v got="$got" 'NR <= 2 || /^-/ { next } $NF == "total" { print; next }
    { calls = ($4 ~ /^[0-9]+$/) ? $4 : 0; name = $NF
      if (calls > 0) printf "%-14s %10d calls  %7.4f per delivery\n", name, calls, calls / got }' \
    "$work/strace" | sort -k2 -n -r | head -12 || true

if [ "$perf" = 1 ] && command -v perf >/dev/null; then
    echo "-- 3. perf samples (cpu-clock), top symbols"
    start_server "$work/log" "$server" --port 0 -q --msg-rate 0 --max-clients $((clients + 10))
    perf record -q -e cpu-clock -F 4000 -p "$SERVER_PID" -o "$work/perf.data" 2>/dev/null &
    perf_pid=$!
    sleep 0.5
    bench "$messages" >/dev/null
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    stop_server
    perf report -q --stdio --no-children --sort sym -i "$work/perf.data" 2>/dev/null \
        | grep -v '^$' | head -25 || true
fi

if [ "$valgrind" = 1 ] && command -v valgrind >/dev/null; then
    m=$(( messages / 5 + 1 ))
    echo "-- 4. callgrind: user-space instructions ($m messages)"
    start_server "$work/log" valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
        "$server" --port 0 -q --msg-rate 0 --max-clients $((clients + 10))
    got=$(bench "$m" | field received)
    # Under valgrind the server needs longer than stop_server's 5 s to write its profile.
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=
    total=$(callgrind_annotate "$work/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    echo "$total instructions for $got deliveries (connections, greetings and shutdown included):" \
        "$(( total / (got > 0 ? got : 1) )) per delivery"
    callgrind_annotate --inclusive=no "$work/cg.out" 2>/dev/null \
        | sed -n '/file:function/,$p' | sed -n '2,16p' \
        | sed -E 's%/rustc/[0-9a-f]+/library/%std:%; s%/root/.cargo/registry/src/[^/]+/%crates:%' \
        | cut -c1-150 || true
fi
