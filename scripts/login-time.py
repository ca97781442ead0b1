#!/usr/bin/env python3
# How long a right /login takes, round trip, on an idle chatd at 127.0.0.1:PORT: registers
# `timer`, then logs in 11 times on fresh connections; prints the median, min and max.
#
#   scripts/login-time.py PORT
import socket, sys, time, statistics
port = int(sys.argv[1])
def conn():
    s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rwb", buffering=0)
    f.readline(); return s, f
def until(f, prefix):
    while True:
        l = f.readline().decode()
        if l.startswith(prefix): return l
s, f = conn()
f.write(b"/nick timer\n"); until(f, "* you are now")
f.write(b"/register timing-pw-1\n"); until(f, "* timer is registered")
s.close()
times = []
for i in range(11):
    s, f = conn()
    t = time.perf_counter()
    f.write(b"/login timer timing-pw-1\n"); until(f, "* logged in as")
    times.append((time.perf_counter() - t) * 1000)
    s.close()
    time.sleep(0.2)
print(f"login round trip ms: median {statistics.median(times):.1f}, min {min(times):.1f}, max {max(times):.1f}")
