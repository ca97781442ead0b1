#!/usr/bin/env bash
# What counting costs: two builds (before and after a change to the metrics) on the same work,
# and the new one again while something scrapes /metrics ten times a second; in one run.
#
#   scripts/metrics-cost.sh OLD_BIN_DIR NEW_BIN_DIR [--repeat R (3)] [--modes "poll threads"]
#
# Each *_BIN_DIR holds a chatd and a chatbench. Work: 1,000 clients, 10 senders flat out, 1,000
# messages each (about 10 M deliveries), chatd --msg-rate 0 --web-port 0. Prints each run and
# the medians (deliveries/s).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ $# -ge 2 ] || { sed -n '2,9p' "$0"; exit 2; }
old=$1 new=$2
shift 2
repeat=3 modes="poll threads"
while [ $# -gt 0 ]; do
    case $1 in
        --repeat) repeat=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
log=$(mktemp) results=$(mktemp)
scraper=
trap 'stop_server; [ -n "$scraper" ] && kill "$scraper" 2>/dev/null; rm -f "$log" "$results"' EXIT

setups=(old new scraped)
for rep in $(seq "$repeat"); do
    # Each setup goes first in turn: the first run after a pause is not always the same one.
    order=("${setups[@]:$(( (rep - 1) % 3 ))}" "${setups[@]:0:$(( (rep - 1) % 3 ))}")
    for mode in $modes; do
        for setup in "${order[@]}"; do
            bin=$new
            [ "$setup" = old ] && bin=$old
            start_server "$log" "$bin/chatd" --mode "$mode" --port 0 --web-port 0 --msg-rate 0 -q
            web=$(sed -n 's/.*listening on .*:\([0-9][0-9]*\) .*web.*/\1/p' "$log")
            if [ "$setup" = scraped ]; then
                (while true; do curl -s "http://127.0.0.1:$web/metrics" >/dev/null; sleep 0.1; done) &
                scraper=$!
            fi
            rate=$("$bin/chatbench" --port "$SERVER_PORT" -n 1000 -s 10 -m 1000 --json \
                | sed -n 's/.*"deliveries_per_sec":\([0-9.]*\).*/\1/p')
            if [ -n "$scraper" ]; then kill "$scraper" 2>/dev/null || true; wait "$scraper" 2>/dev/null || true; scraper=; fi
            stop_server
            echo "$mode $setup $rate" | tee -a "$results"
        done
    done
done
echo
echo "medians (deliveries/s):"
python3 - "$results" "$modes" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
for mode in sys.argv[2].split():
    med = {s: statistics.median(float(r[2]) for r in rows if r[0] == mode and r[1] == s)
           for s in ("old", "new", "scraped")}
    print(f"{mode:8} old {med['old']:>12,.0f}  new {med['new']:>12,.0f} ({med['new']/med['old']:.3f})"
          f"  new, scraped 10/s {med['scraped']:>12,.0f} ({med['scraped']/med['old']:.3f})")
PY
