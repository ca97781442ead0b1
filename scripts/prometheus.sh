#!/usr/bin/env bash
# A real Prometheus scrapes chatd under load: Debian's prometheus (installed if missing, as
# root), a chatd of its own (poll mode unless --mode), chatbench as the load; waits two scrape
# intervals, then asks Prometheus's HTTP API for the clients connected and the deliveries per
# second, and prints what it answered.
#
#   scripts/prometheus.sh [--mode poll|threads]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mode=poll
while [ $# -gt 0 ]; do
    case $1 in
        --mode) mode=$2; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if ! command -v prometheus >/dev/null; then
    echo "== installing prometheus"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
(cd "$ROOT" && cargo build --release --quiet --bins)
work=$(mktemp -d)
prom= load=
cleanup() {
    [ -n "$load" ] && kill "$load" 2>/dev/null
    [ -n "$prom" ] && kill "$prom" 2>/dev/null
    stop_server
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

start_server "$work/chatd.log" "$CHATD" --mode "$mode" --port 0 --web-port 0 --msg-rate 0 -q
web=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\) .*web.*/\1/p' "$work/chatd.log")
prom_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: chatd
    static_configs:
      - targets: ["127.0.0.1:$web"]
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
prom=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null && break
    sleep 0.1
done
# 200 clients, 2 senders at 500 messages/s in all, for 20 s.
"$CHATBENCH" --port "$SERVER_PORT" -n 200 -s 2 -r 500 -m 5000 >"$work/load.log" 2>&1 &
load=$!
# Prometheus hands new targets to its scrapers every 5 s: wait until chatd's is scraped (up),
# then two scrape intervals more.
for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$prom_port/api/v1/targets" | grep -q '"health":"up"' && break
    sleep 0.1
done
sleep 2.5
query() {
    curl -sf "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" \
        | python3 -c '
import json, sys
r = json.load(sys.stdin)
for s in r["data"]["result"]:
    labels = ",".join(f"{k}=\"{v}\"" for k, v in sorted(s["metric"].items()) if k not in ("instance", "job"))
    print("  {" + labels + "} " + s["value"][1])'
}
echo "Prometheus $(prometheus --version 2>&1 | head -n 1 | cut -d" " -f3) scraping chatd --mode $mode at 127.0.0.1:$web every second, under load:"
echo "chatd_clients_connected"
query chatd_clients_connected
echo "rate(chatd_deliveries_total[3s])"
query 'rate(chatd_deliveries_total[3s])'
echo "up"
query 'up{job="chatd"}'
