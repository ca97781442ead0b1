#!/usr/bin/env python3
"""chatd at a glance, in the terminal: reads /metrics every second and prints one line of what
changed (clients, rooms, lines and deliveries per second, drops, the cluster link).

    scripts/top.py http://127.0.0.1:8080 [--count N]
"""
import re
import sys
import time
import urllib.request


def scrape(url):
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r'([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$', line)
        if m:
            values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return values


def total(values, prefix):
    return sum(v for k, v in values.items() if k.startswith(prefix))


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 2
    url = sys.argv[1].rstrip("/")
    count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 0
    print(f"{'time':8} {'clients':>8} {'tcp/tls/ws':>14} {'rooms':>6} {'lines/s':>9} "
          f"{'deliv/s':>11} {'out KB/s':>9} {'dropped':>8} {'link':>5}")
    before, at = scrape(url), time.monotonic()
    n = 0
    while count == 0 or n < count:
        time.sleep(1)
        now, t = scrape(url), time.monotonic()
        dt = t - at
        rate = lambda k: (now.get(k, 0) - before.get(k, 0)) / dt
        by = [now.get(f'chatd_clients_connected{{transport="{x}"}}', 0) for x in ("tcp", "tls", "websocket")]
        link = "up" if now.get("chatd_cluster_link_up", 0) else "-"
        print(f"{time.strftime('%H:%M:%S'):8} {sum(by):8.0f} {'/'.join(f'{x:.0f}' for x in by):>14} "
              f"{now.get('chatd_rooms', 0):6.0f} {rate('chatd_lines_received_total'):9.0f} "
              f"{rate('chatd_deliveries_total'):11.0f} {rate('chatd_sent_bytes_total') / 1024:9.0f} "
              f"{total(now, 'chatd_clients_dropped_total'):8.0f} {link:>5}", flush=True)
        before, at = now, t
        n += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
