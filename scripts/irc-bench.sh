#!/usr/bin/env bash
# IRC clients against nc clients on chatd, and InspIRCd (Debian's inspircd, its flood limits
# raised) on the same work, in one run; writes a report (default bench/irc.md) and its raw
# runs (the same name, .jsonl).
#
#   scripts/irc-bench.sh [--repeat R (3)] [--out FILE] [--modes "poll threads"] [--no-inspircd]
#
# Each run: a fresh server and chatbench, every client in one room:
#   crowd  200 clients, 10 senders flat out, 1,500 messages each (about 3 M deliveries)
#   fan    1,000 clients, 1 sender flat out, 3,000 messages (about 3 M deliveries)
#   idle   2,000 clients registered, then one message: the server's RSS per connection (not
#          10,000: every IRC client that comes is sent the names of everyone in its channel,
#          which for 10,000 in one is 50 M names: minutes, on any server)
# over three transports: nc (chatd's plain port), irc (chatd's IRC port: NICK, USER, then
# PRIVMSG #lobby, where chatd puts everyone), and inspircd (the same lines to InspIRCd, which
# puts everyone in #bench, its conn_join module; it is given 3 s to register them all). The
# transports alternate within each repetition; the report gives medians, the IRC/nc ratio
# and chatd-IRC/InspIRCd. Loopback only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

repeat=3 out=$ROOT/bench/irc.md modes="poll threads" inspircd=yes
while [ $# -gt 0 ]; do
    case $1 in
        --repeat) repeat=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        --no-inspircd) inspircd=no; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [ "$inspircd" = yes ] && ! command -v inspircd >/dev/null && [ ! -x /usr/sbin/inspircd ]; then
    echo "inspircd is not installed (apt-get install inspircd), or pass --no-inspircd" >&2
    exit 1
fi
INSPIRCD=$(command -v inspircd || echo /usr/sbin/inspircd)
(cd "$ROOT" && cargo build --release --quiet --bins)
log=$(mktemp)
conf=$(mktemp -d)
trap 'stop_server; rm -rf "$log" "$conf"' EXIT
raw=${out%.md}.jsonl
mkdir -p "$(dirname "$out")"
: >"$raw"
ulimit -n 65536 2>/dev/null || true

IRC_HELLO='NICK b{i}\nUSER b{i} 0 * :b'

serve_chatd() {
    start_server "$log" "$CHATD" --mode "$1" --port 0 --irc-port 0 --msg-rate 0 \
        --max-clients 20000 -q
    IRC_PORT=
    for _ in $(seq 100); do
        IRC_PORT=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\) .*irc.*/\1/p' "$log")
        [ -n "$IRC_PORT" ] && return 0
        sleep 0.05
    done
    echo "no IRC listener" >&2
    return 1
}

# InspIRCd on a free port, every limit that would slow or cut a flat-out client raised.
serve_inspircd() {
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$conf/inspircd.conf" <<CONF
<server name="bench.invalid" description="bench" network="bench">
<admin name="bench" nick="bench" email="bench@bench.invalid">
<bind address="127.0.0.1" port="$port" type="clients">
<connect name="bench" allow="127.0.0.1" maxchans="20" timeout="60" pingfreq="600"
         hardsendq="1G" softsendq="1G" recvq="1G" threshold="1000000000"
         commandrate="1000000000" fakelag="no" localmax="100000" globalmax="100000"
         maxconnwarn="no" limit="100000" useident="no" resolvehostnames="no">
<performance netbuffersize="65536" somaxconn="4096" softlimit="30000" clonesonconnect="no">
<options hostintopic="no" syntaxhints="no">
<security hidebans="yes" hidesplits="yes">
<limits maxchan="64" maxnick="32" maxtopic="300" maxline="512">
<channels users="100000" opers="100000">
<pid file="$conf/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="$conf/inspircd.log">
<path configdir="$conf" datadir="$conf" logdir="$conf" runtimedir="$conf">
<module name="conn_join">
<autojoin channel="#bench">
CONF
    SERVER_DIR=$(mktemp -d)
    (cd "$SERVER_DIR" && exec "$INSPIRCD" --runasroot --nofork --config="$conf/inspircd.conf") \
        >"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 200); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1',$port),0.2).close()" \
            2>/dev/null && { IRC_PORT=$port; SERVER_PORT=$port; return 0; }
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "inspircd did not start" >&2
    cat "$log" "$conf/inspircd.log" >&2 || true
    return 1
}

run() { # MODE WORK TRANSPORT REP
    local mode=$1 work=$2 transport=$3 rep=$4 n args port prefix settle=1000
    local hello=()
    case $work in
        crowd) n=200 args="-s 10 -m 1500" ;;
        fan) n=1000 args="-s 1 -m 3000" ;;
        idle) n=2000 args="-s 1 -m 1" ;;
    esac
    if [ "$transport" = inspircd ]; then serve_inspircd; else serve_chatd "$mode"; fi
    case $transport in
        nc) port=$SERVER_PORT prefix='' ;;
        irc) port=$IRC_PORT hello=(--hello "$IRC_HELLO") prefix='PRIVMSG #lobby :' ;;
        inspircd) port=$IRC_PORT hello=(--hello "$IRC_HELLO") prefix='PRIVMSG #bench :' settle=3000 ;;
    esac
    echo "== $mode $work $transport, run $rep"
    # shellcheck disable=SC2086
    "$CHATBENCH" --port "$port" "${hello[@]}" --send-prefix "$prefix" -n "$n" $args \
        --settle-ms "$settle" \
        --server-pid "$SERVER_PID" --json \
        | record mode="$mode" work="$work" transport="$transport" rep="$rep"
    stop_server
}

for rep in $(seq "$repeat"); do
    for work in crowd fan idle; do
        for mode in $modes; do
            for transport in nc irc; do
                run "$mode" "$work" "$transport" "$rep"
            done
        done
        [ "$inspircd" = yes ] && run inspircd "$work" inspircd "$rep"
    done
done

python3 - "$raw" "$out" "$repeat" "$modes" <<'PY'
import json, statistics, sys
raw, out, repeat, modes = sys.argv[1:5]
rows = [json.loads(l) for l in open(raw)]
def med(mode, work, transport, key):
    xs = [float(r.get(key, 0)) for r in rows
          if r["mode"] == mode and r["work"] == work and r["transport"] == transport]
    return statistics.median(xs) if xs else float("nan")
lines = [
    "# IRC clients against nc clients, and against InspIRCd",
    "",
    f"`scripts/irc-bench.sh --repeat {repeat}`: medians of {repeat} runs, the transports",
    "alternating; chatd --msg-rate 0 with a plain and an IRC listener; InspIRCd (Debian's",
    "3.15) with its flood and queue limits raised; chatbench on the same two cores, every",
    "client in the server's one room (chatd's lobby, InspIRCd's #bench).",
    "",
    "| work | mode | nc | IRC | IRC / nc | InspIRCd | chatd IRC / InspIRCd |",
    "|---|---|---:|---:|---:|---:|---:|",
]
works = [("crowd", "200 clients, 10 senders flat out, deliveries/s"),
         ("fan", "1,000 clients, 1 sender flat out, deliveries/s")]
for work, label in works:
    insp = med("inspircd", work, "inspircd", "deliveries_per_sec")
    for mode in modes.split():
        nc, irc = (med(mode, work, t, "deliveries_per_sec") for t in ("nc", "irc"))
        insp_cell = f"{insp:,.0f}" if insp == insp else ""
        ratio = f"{irc / insp:.2f}x" if insp == insp else ""
        lines.append(f"| {label} | {mode} | {nc:,.0f} | {irc:,.0f} | {irc / nc:.2f} | {insp_cell} | {ratio} |")
insp = med("inspircd", "idle", "inspircd", "server_rss_per_conn_bytes")
for mode in modes.split():
    nc, irc = (med(mode, "idle", t, "server_rss_per_conn_bytes") for t in ("nc", "irc"))
    insp_cell = f"{insp:,.0f} B" if insp == insp else ""
    lines.append(f"| 2,000 idle clients, RSS per connection | {mode} | {nc:,.0f} B | {irc:,.0f} B | {irc / nc:.1f}x | {insp_cell} | |")
lost = sum(int(r.get("lost", 0)) for r in rows)
lines += ["", f"Lost deliveries over all runs: {lost}."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
