#!/usr/bin/env python3
"""Turns compare-modes.sh's raw.jsonl into results.md (median and range per cell) and chart.svg.

usage: bench_report.py RAW.jsonl RESULTS.md CHART.svg COMMAND SKIPPED
Standard library only.
"""
import json
import math
import os
import platform
import statistics
import sys
from collections import defaultdict

SERVERS = ["relay", "report", "poll", "threads"]
WORKLOADS = {
    "fanout": "1 sender flat out (about 3 M deliveries)",
    "paced": "1 sender at min(2000, 2e6/N) msg/s for 1 s",
    "chatty": "10 senders at min(1000, 1e6/N) msg/s in all, for 1 s",
    "crowd": "10 senders flat out (about 3 M deliveries)",
    "trickle": "1 sender at 100 msg/s for 2 s",
    "slow": "1 sender flat out, plus 1 client that never reads",
    "quiet": "10 senders at min(200, 2e5/N) msg/s in all for 2 s, default flood control",
    "flooded": "quiet, plus 1 client flooding flat out",
}
COLORS = {"relay": "#888888", "report": "#2ca02c", "poll": "#1f77b4", "threads": "#d62728"}
LABELS = {"relay": "raw relay", "report": "report's server (Python)", "poll": "poll", "threads": "threads"}


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def cells(rows):
    by = defaultdict(list)
    for r in rows:
        by[(r["workload"], r["server"], r["clients"])].append(r)
    return by


def med(runs, key):
    vals = [r[key] for r in runs if key in r]
    return statistics.median(vals) if vals else None


def rng(runs, key, fmt, bound=""):
    vals = [r[key] for r in runs if key in r]
    if not vals:
        return "-"
    m = statistics.median(vals)
    if len(vals) == 1:
        return bound + fmt(m)
    return f"{bound}{fmt(m)} ({fmt(min(vals))} to {fmt(max(vals))})"


def rate(v):
    return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.0f} k"


def msec(v):
    return f"{v / 1000:.1f}"


def asked_rate(r):
    """Deliveries per second a paced run asked for: messages/s times the other clients."""
    args = r.get("args", "").split()
    if "-r" not in args:
        return None
    per_sec = float(args[args.index("-r") + 1])
    return per_sec * (r["clients"] - 1) if per_sec > 0 else None


def problems(runs):
    out = []
    for r in runs:
        bits = []
        if r.get("failed") or r.get("connected", 0) == 0:
            bits.append("chatbench failed")
        if r.get("server_died"):
            bits.append("server died")
        if r.get("connect_failed"):
            bits.append(f"{r['connect_failed']} connects failed")
        if "admitted" in r and r["admitted"] < r["clients"]:
            bits.append(f"{r['clients'] - r['admitted']} clients turned away or closed before sending")
        if r.get("lost"):
            bits.append(f"{r['lost']} lost")
        if r.get("duplicated"):
            bits.append(f"{r['duplicated']} duplicated")
        if r.get("out_of_order"):
            bits.append(f"{r['out_of_order']} out of order")
        if r.get("stalled"):
            bits.append("stalled: nothing delivered for the drain timeout")
        if r.get("cut"):
            bits.append(f"cut by the time limit with {r.get('late', 0)} deliveries still to make")
        asked = asked_rate(r)
        if asked and r.get("deliveries_per_sec", 0) < 0.9 * asked:
            bits.append(f"fell behind: {r['deliveries_per_sec'] / asked:.0%} of the "
                        f"{rate(asked)} deliveries/s asked, p99 {r.get('p99_us', 0) / 1e6:.1f} s")
        if bits:
            out.append(f"rep {r['rep']}: " + ", ".join(bits))
    return out


def table(by, workload, clients_list):
    servers = [s for s in SERVERS if any((workload, s, n) in by for n in clients_list)]
    lines = [f"### {workload}: {WORKLOADS[workload]}", ""]
    head = ("| clients | server | deliveries/s | of relay | p50 ms | p99 ms | max ms | lost | late "
            "| RSS/conn | threads |")
    lines += [head, "|---" * (head.count("|") - 1) + "|"]
    for n in clients_list:
        relay = by.get((workload, "relay", n))
        relay_tput = med(relay, "deliveries_per_sec") if relay else None
        for s in servers:
            runs = by.get((workload, s, n))
            if not runs:
                continue
            tput = med(runs, "deliveries_per_sec")
            frac = f"{100 * tput / relay_tput:.0f}%" if relay_tput and tput is not None and s != "relay" else ""
            lost = sum(r.get("lost", 0) for r in runs)
            late = sum(r.get("late", 0) for r in runs)
            # With deliveries still to make at the time limit, latencies are lower bounds.
            bound = "≥ " if late else ""
            per_conn = med(runs, "server_rss_per_conn_bytes")
            threads = med(runs, "server_threads_connected")
            lines.append(
                f"| {n} | {s} | {rng(runs, 'deliveries_per_sec', rate)} | {frac} "
                f"| {rng(runs, 'p50_us', msec, bound)} | {rng(runs, 'p99_us', msec, bound)} "
                f"| {rng(runs, 'max_us', msec, bound)} | {lost} | {late} | {'' if per_conn is None else f'{per_conn:.0f} B'} "
                f"| {'' if threads is None else int(threads)} |"
            )
    lines.append("")
    return lines


def svg_panel(by, workload, key, title, ylabel, clients_list, x0, logy):
    w, h, pad = 420, 300, 55
    pts = {}
    for s in SERVERS:
        series = []
        for n in clients_list:
            runs = by.get((workload, s, n))
            v = med(runs, key) if runs else None
            if v:
                series.append((n, v))
        if series:
            pts[s] = series
    allv = [v for ser in pts.values() for _, v in ser]
    if not allv:
        return ""
    ymin, ymax = (min(allv), max(allv))
    if logy:
        lo, hi = math.log10(ymin) - 0.1, math.log10(ymax) + 0.1
    else:
        lo, hi = 0, ymax * 1.1
    xs = [math.log10(n) for n in clients_list]
    xlo, xhi = min(xs) - 0.1, max(xs) + 0.1

    def X(n):
        return x0 + pad + (math.log10(n) - xlo) / (xhi - xlo) * (w - pad - 10)

    def Y(v):
        t = math.log10(v) if logy else v
        return 10 + (1 - (t - lo) / (hi - lo or 1)) * (h - pad - 10) + 20

    out = [f'<text x="{x0 + w / 2}" y="16" text-anchor="middle" font-weight="bold">{title}</text>']
    out.append(f'<line x1="{x0 + pad}" y1="{h - pad + 30}" x2="{x0 + w}" y2="{h - pad + 30}" stroke="black"/>')
    out.append(f'<line x1="{x0 + pad}" y1="30" x2="{x0 + pad}" y2="{h - pad + 30}" stroke="black"/>')
    for n in clients_list:
        out.append(f'<text x="{X(n):.1f}" y="{h - pad + 45}" text-anchor="middle">{n}</text>')
    out.append(f'<text x="{x0 + w / 2}" y="{h + 8}" text-anchor="middle">clients</text>')
    ticks = []
    if logy:
        for e in range(math.floor(lo), math.ceil(hi) + 1):
            for m in (1, 2, 5):
                v = m * 10 ** e
                if lo <= math.log10(v) <= hi:
                    ticks.append(v)
    else:
        step = 10 ** math.floor(math.log10(hi / 4)) if hi > 0 else 1
        ticks = [i * step for i in range(0, int(hi / step) + 1, max(1, int(hi / step) // 5))]
    for v in ticks:
        y = Y(v)
        label = rate(v) if key == "deliveries_per_sec" else f"{v / 1000:g}"
        out.append(f'<line x1="{x0 + pad - 4}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 + pad - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    out.append(f'<text transform="translate({x0 + 12},{h / 2 + 20}) rotate(-90)" text-anchor="middle">{ylabel}</text>')
    for s, ser in pts.items():
        path = " ".join(f"{X(n):.1f},{Y(v):.1f}" for n, v in ser)
        out.append(f'<polyline fill="none" stroke="{COLORS[s]}" stroke-width="2" points="{path}"/>')
        for n, v in ser:
            out.append(f'<circle cx="{X(n):.1f}" cy="{Y(v):.1f}" r="3" fill="{COLORS[s]}"/>')
    return "\n".join(out)


def chart(by, clients_list, path):
    left = svg_panel(by, "fanout", "deliveries_per_sec", "Throughput, 1 sender flat out",
                     "deliveries per second", clients_list, 0, True)
    right = svg_panel(by, "paced", "p99_us", "p99 latency, 1 sender paced",
                      "p99 latency (ms)", clients_list, 450, True)
    legend = []
    for i, s in enumerate(SERVERS):
        x = 150 + i * 150
        legend.append(f'<rect x="{x}" y="322" width="14" height="4" fill="{COLORS[s]}"/>')
        legend.append(f'<text x="{x + 18}" y="328">{LABELS[s]}</text>')
    cut = any(r.get("late") for runs in by.values() for r in runs if r["workload"] == "paced")
    if cut:
        legend.append('<text x="868" y="262" text-anchor="end" fill="#555">points cut at the time '
                      'limit are lower bounds</text>')
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="880" height="340" '
           f'font-family="sans-serif" font-size="11">\n<rect width="880" height="340" fill="white"/>\n'
           f"{left}\n{right}\n" + "\n".join(legend) + "\n</svg>\n")
    with open(path, "w") as f:
        f.write(svg)


def main():
    raw, md, svg, command, skipped = sys.argv[1:6]
    rows = load(raw)
    by = cells(rows)
    clients_list = sorted({r["clients"] for r in rows})
    reps = max((r["rep"] for r in rows), default=0)
    out = [
        "# chatd: poll, threads and the report's server",
        "",
        f"Made by `{command.strip()}` on {os.cpu_count()} cores ({platform.platform()}); "
        f"{reps} run(s) per cell, each on a fresh server. Cells show the median, then the range. "
        "The loader (one thread) and the server share the machine: compare within this run, "
        "and read 'of relay' as each mode's share of the raw relay's deliveries per second "
        "measured in this same run. 'report' is the report's own Python server "
        "(scripts/report_server.py): it relays raw 1 KiB chunks, so lines can be torn, which "
        "shows as lost. A run ends at the time limit given to chatbench even if "
        "deliveries are still to make: those are counted late (not lost), at their age then, so "
        "latencies marked ≥ are lower bounds. Paced messages are timed from when they were due, "
        "not from when the server took them. 'lost' and 'late' add up all runs of the cell.",
        "",
    ]
    if int(skipped):
        out += [f"Time budget reached: {skipped} cells were not run.", ""]
    for wl in WORKLOADS:
        if any(k[0] == wl for k in by):
            out += table(by, wl, clients_list)
    bad = []
    for (wl, s, n), runs in sorted(by.items()):
        for p in problems(runs):
            bad.append(f"- {s}, {wl}, {n} clients, {p}")
    out += ["### Where a mode failed", ""] + (bad or ["Nowhere: every run delivered every message."]) + [""]
    with open(md, "w") as f:
        f.write("\n".join(out))
    chart(by, clients_list, svg)


if __name__ == "__main__":
    main()
