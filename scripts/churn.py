#!/usr/bin/env python3
"""Connection churn against a running chatd: memory and threads before, during and after.

    scripts/churn.py --port PORT --pid PID [--connections 20000] [--stay 5] [--workers 1]
                     [--hold-ms 0]

`--stay` clients stay connected (one of them says a line every 100 ms and the others check that
each arrives) while `--connections` short connections each connect, send `hello` and close, as
fast as `--workers` loops can make them. With `--hold-ms`, each stays open that long before
it closes (the loop goes on meanwhile), so that the server cannot be done with it before it
even accepts it. Halfway through, a newcomer connects and must be
welcomed, and the line it then says must reach a staying client, within a second. Prints one JSON object: the server's RSS (KiB)
and threads before, after 3/4 of the connections, at their most during the churn (sampled every
10 ms), as the last one closes, and 1 s, 5 s and 15 s after it; how many
short connections failed; the newcomer's waits (for its welcome, and for its line to be relayed);
and the lines
the staying clients lost. Loopback only; bounded in time (it gives up after --timeout seconds).
"""
import argparse
import collections
import json
import os
import socket
import sys
import threading
import time


def proc(pid):
    rss = threads = fds = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        pass
    return {"rss_kib": rss, "threads": threads, "fds": fds}


class Line:
    """A client that reads lines with a deadline."""

    def __init__(self, host, port, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("closed")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def send(self, text):
        self.sock.sendall(text.encode() + b"\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--connections", type=int, default=20000)
    ap.add_argument("--stay", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--hold-ms", type=float, default=0)
    ap.add_argument("--timeout", type=float, default=120)
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("loopback only")
    deadline = time.monotonic() + args.timeout

    stay = [Line(args.host, args.port) for _ in range(max(2, args.stay))]
    names = [c.line().split(",")[0].removeprefix("* welcome ") for c in stay]
    report = {"before": proc(args.pid)}

    # The staying clients chat: stay[0] says "tick N" every 100 ms; the others count them.
    stop = threading.Event()
    said = [0]
    heard = [0] * len(stay)

    def talk():
        while not stop.is_set():
            stay[0].send(f"tick {said[0]}")
            said[0] += 1
            stop.wait(0.1)

    def listen(i):
        want = f"<{names[0]}> tick "
        c = stay[i]
        c.sock.settimeout(5)
        while True:
            try:
                line = c.line()
            except (EOFError, OSError):
                return
            if line == f"{want}end":
                return
            if i == 1 and line == newcomer.get("line"):
                newcomer["relayed_s"] = round(time.monotonic() - newcomer["t0"], 3)
                arrived.set()
            if line.startswith(want) and int(line[len(want):]) == heard[i]:
                heard[i] += 1

    arrived = threading.Event()
    newcomer = {}
    listeners = [threading.Thread(target=listen, args=(i,), daemon=True) for i in range(1, len(stay))]
    for t in listeners:
        t.start()
    talker = threading.Thread(target=talk, daemon=True)
    talker.start()

    made = [0]
    failed = [0]
    lock = threading.Lock()

    def churn(count):
        held = collections.deque()
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            while held and held[0][0] <= time.monotonic():
                held.popleft()[1].close()
            try:
                s = socket.create_connection((args.host, args.port), timeout=5)
                s.sendall(b"hello\n")
                if args.hold_ms > 0:
                    held.append((time.monotonic() + args.hold_ms / 1000, s))
                else:
                    s.close()
                with lock:
                    made[0] += 1
                    done = made[0]
            except OSError:
                with lock:
                    failed[0] += 1
                continue
            if done == args.connections * 3 // 4:
                report["during"] = proc(args.pid)
            if done == args.connections // 2 and not newcomer:
                newcomer["started"] = True
                threading.Thread(target=try_newcomer, daemon=True).start()
        while held:
            at, s = held.popleft()
            time.sleep(max(0, at - time.monotonic()))
            s.close()

    def try_newcomer():
        t0 = time.monotonic()
        try:
            c = Line(args.host, args.port, timeout=5)
            first = c.line()
            if not first.startswith("* welcome "):
                newcomer.update(refused=first)
                return
            newcomer["welcome_s"] = round(time.monotonic() - t0, 3)
            newcomer["t0"] = t0
            newcomer["line"] = f"<{first.split(',')[0].removeprefix('* welcome ')}> newcomer here"
            c.send("newcomer here")
            arrived.wait(5)
            c.sock.close()
        except (OSError, EOFError) as e:
            newcomer["error"] = str(e)

    # The most descriptors and threads the server held at any moment of the churn, sampled
    # every 10 ms (each sample lists /proc/PID/fd).
    peak = {"fds": 0, "threads": 0, "rss_kib": 0}
    churning = threading.Event()

    def sample():
        while not churning.wait(0.01):
            now = proc(args.pid)
            for k in peak:
                peak[k] = max(peak[k], now[k])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    per = args.connections // args.workers
    workers = [threading.Thread(target=churn, args=(per,)) for _ in range(args.workers)]
    t0 = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    took = time.monotonic() - t0
    end = time.monotonic()
    report["end"] = proc(args.pid)
    churning.set()
    sampler.join()
    report["peak"] = peak
    for label, at in (("after_1s", 1), ("after_5s", 5), ("after_15s", 15)):
        time.sleep(max(0, end + at - time.monotonic()))
        report[label] = proc(args.pid)
    stop.set()
    talker.join()
    stay[0].send("tick end")
    for t in listeners:
        t.join(timeout=10)
    report.update(
        connections=made[0],
        per_sec=round(made[0] / took) if took else 0,
        failed=failed[0],
        newcomer={k: v for k, v in newcomer.items() if k in ("welcome_s", "relayed_s", "refused", "error")},
        ticks_said=said[0],
        ticks_lost=sum(said[0] - h for h in heard[1:]),
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
