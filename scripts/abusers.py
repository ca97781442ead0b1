#!/usr/bin/env python3
"""Misbehaving clients for soak.sh, against one chat server, for a bounded time.

usage: abusers.py HOST PORT SECONDS
Runs, side by side: client churn (connect, chat, leave; some leave with a reset), slow
consumers (connect and never read), a flooder, and garbage senders (random bytes, huge lines,
invalid UTF-8, terminal escapes). Each reconnects when dropped. Prints one summary line.
Standard library only; loopback targets only.
"""
import os
import random
import socket
import struct
import sys
import threading
import time

HOST, PORT, SECONDS = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
assert HOST.startswith("127.") or HOST in ("::1", "localhost"), "loopback only"
END = time.monotonic() + SECONDS
counts = {"churn": 0, "reset": 0, "slow": 0, "flood": 0, "garbage": 0, "errors": 0}
lock = threading.Lock()


def bump(key):
    with lock:
        counts[key] += 1


def connect():
    s = socket.create_connection((HOST, PORT), timeout=5)
    s.settimeout(5)
    return s


def drain(s):
    s.setblocking(False)
    try:
        while s.recv(65536):
            pass
    except OSError:
        pass
    s.setblocking(True)


def churn():
    while time.monotonic() < END:
        try:
            s = connect()
            s.sendall(b"hello from churn\n")
            if random.random() < 0.3:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                bump("reset")
            else:
                s.sendall(b"/quit bye\n")
                while s.recv(4096):
                    pass
                s.close()
                bump("churn")
        except OSError:
            bump("errors")
        time.sleep(0.05)


def dropped(s):
    """Whether the server has closed its side: the kernel's TCP state (TCP_INFO's first byte)
    is CLOSE_WAIT, or worse. A peek cannot tell, with the unread lines in front of the FIN."""
    state = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    return state != 1  # 1: ESTABLISHED


def slow():
    while time.monotonic() < END:
        try:
            s = connect()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            bump("slow")
            while time.monotonic() < END and not dropped(s):
                time.sleep(0.5)
            s.close()
        except OSError:
            bump("errors")


def flood():
    line = b"flood " + b"x" * 100 + b"\n"
    while time.monotonic() < END:
        try:
            s = connect()
            bump("flood")
            while time.monotonic() < END:
                s.sendall(line * 100)
                drain(s)
        except OSError:
            pass
        time.sleep(0.1)


def garbage():
    payloads = [
        lambda: os.urandom(random.randint(1, 4096)),
        lambda: b"y" * 200_000 + b"\n",
        lambda: b"caf\xe9 \xff\xfe\n",
        lambda: b"\x1b[2J\x1b]0;owned\x07\x9b31m\n",
        lambda: b"/nick " + os.urandom(40) + b"\n",
        lambda: b"/msg \n/me\n/nick\n//\n/\n",
    ]
    while time.monotonic() < END:
        try:
            s = connect()
            for _ in range(20):
                s.sendall(random.choice(payloads)())
                drain(s)
            bump("garbage")
            s.close()
        except OSError:
            bump("errors")
        time.sleep(0.05)


workers = [churn, churn, churn, slow, slow, flood, garbage, garbage]
threads = [threading.Thread(target=w, daemon=True) for w in workers]
for t in threads:
    t.start()
for t in threads:
    t.join(max(0.0, END - time.monotonic()) + 10)
print(" ".join(f"{k}={v}" for k, v in counts.items()))
