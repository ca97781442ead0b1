# Shared by the scripts: start a server in the background and learn its port.
# Source it; it defines start_server and stop_server.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHATD=${CHATD:-${CARGO_TARGET_DIR:-$ROOT/target}/release/chatd}
CHATBENCH=${CHATBENCH:-${CARGO_TARGET_DIR:-$ROOT/target}/release/chatbench}

# start_server LOGFILE CMD...: runs CMD, waits (at most 10 s) for its "listening on ADDR" line,
# and sets SERVER_PID and SERVER_PORT. It runs in a folder of its own (SERVER_DIR), made for it
# and removed when it stops: a chatd's default store (chatd.db in its working directory)
# starts empty each run and is never left behind.
start_server() {
    local log=$1
    shift
    SERVER_DIR=$(mktemp -d)
    (cd "$SERVER_DIR" && exec "$@") >"$log" 2>&1 &
    SERVER_PID=$!
    SERVER_PORT=
    for _ in $(seq 200); do
        SERVER_PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
        [ -n "$SERVER_PORT" ] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "server did not start: $*" >&2
    cat "$log" >&2
    return 1
}

# stop_server: SIGTERM, then SIGKILL after 5 s.
stop_server() {
    [ -n "${SERVER_PID:-}" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    [ -z "${SERVER_DIR:-}" ] || rm -rf "$SERVER_DIR"
    SERVER_DIR=
}

# bench_files OUT: what a benchmark script needs first: the release binaries built, OUT's
# folder made, and two temporary files, RAW (results) and LOG (the server's), removed with the
# server stopped when the script exits.
bench_files() {
    (cd "$ROOT" && cargo build --release --quiet --bins)
    mkdir -p "$(dirname "$1")"
    RAW=$(mktemp)
    LOG=$(mktemp)
    trap 'stop_server; rm -f "$RAW" "$LOG"' EXIT
}

# record KEY=VALUE...: appends the JSON object chatbench printed on stdin to the file $raw, with
# these keys added (mode=poll, rep=2, ...): one row of a benchmark script's raw runs.
record() {
    python3 -c '
import json, sys
row = json.loads(sys.stdin.read())
for kv in sys.argv[1:]:
    k, v = kv.split("=", 1)
    row[k] = v
print(json.dumps(row))' "$@" >>"$raw"
}
