"""What being in more rooms costs the server: N clients reading JSON, each in one room, then
each in 24 rooms more, the server's RSS read (from /proc) after each step once it is quiet.
The rooms exist before the first reading (anchor clients hold them), so the difference is the
clients' own: their seats and their places in the rooms' member lists. With --warm, as many
other clients make the same joins before the first reading and leave (what a burst leaves in
the allocator is then in both readings; their leaving is a burst of its own).

    python3 scripts/rooms-memory.py PORT PID [--clients N] [--rooms M] [--warm]

Prints one JSON object: rss_one_room_kib, rss_25_rooms_kib, bytes_per_client. Loopback only.
"""
import argparse
import json
import selectors
import socket
import time

EXTRA = 24  # rooms beyond the lobby: 25 in all, the default --max-rooms-per-client


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Clients:
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.socks = []

    def connect(self, port):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ)
        self.socks.append(s)
        return s

    def drain(self, quiet=0.5, limit=120.0):
        """Reads everything until nothing has come for `quiet` seconds."""
        last = time.monotonic()
        start = last
        while time.monotonic() - last < quiet:
            if time.monotonic() - start > limit:
                raise RuntimeError("the server did not go quiet")
            for key, _ in self.sel.select(timeout=0.05):
                try:
                    if key.fileobj.recv(1 << 16):
                        last = time.monotonic()
                except BlockingIOError:
                    pass


def send(s, text):
    data = text.encode()
    while data:
        try:
            n = s.send(data)
            data = data[n:]
        except BlockingIOError:
            time.sleep(0.001)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("pid", type=int)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--rooms", type=int, default=960)
    ap.add_argument("--warm", action="store_true",
                    help="as many clients make the same joins first, and leave")
    a = ap.parse_args()
    c = Clients()
    # Anchors: each in 24 of the rooms, so that every room exists before the first reading.
    for first in range(0, a.rooms, EXTRA):
        s = c.connect(a.port)
        joins = "".join(f"/join r{(first + k) % a.rooms}\n" for k in range(EXTRA))
        send(s, "/format json\n" + joins)
    c.drain()
    # Each client in one room of 40 (not the lobby, where every leave of the warm-up would
    # be told to everyone: that burst is a test of its own).
    def one_room(i):
        return f"/format json\n/join b{i % (a.clients // 40 + 1)}\n/part lobby\n"

    clients = [c.connect(a.port) for _ in range(a.clients)]
    for i, s in enumerate(clients):
        send(s, one_room(i))
    c.drain()

    def rooms_of(i):
        return [f"r{(i * EXTRA + k) % a.rooms}" for k in range(EXTRA)]

    # The same traffic once before the first reading, by as many other clients that then
    # leave: what the server keeps of a burst (its pool of output buffers, the heap it grew)
    # is in both readings.
    warm = [c.connect(a.port) for _ in range(a.clients if a.warm else 0)]
    for i, s in enumerate(warm):
        send(s, one_room(i) + "".join(f"/join {r}\n" for r in rooms_of(i)))
    c.drain()
    for s in warm:
        c.sel.unregister(s)
        s.close()
    c.drain()
    time.sleep(1.0)  # the server returns freed memory once quiet
    one = rss_kib(a.pid)
    for i, s in enumerate(clients):
        send(s, "".join(f"/join {r}\n" for r in rooms_of(i)))
    c.drain()
    time.sleep(1.0)
    many = rss_kib(a.pid)
    # And out of them again: what stays is what the joins left, not what membership costs.
    for i, s in enumerate(clients):
        send(s, "".join(f"/part {r}\n" for r in rooms_of(i)))
    c.drain()
    time.sleep(1.0)
    after = rss_kib(a.pid)
    print(json.dumps({
        "clients": a.clients,
        "rooms": a.rooms,
        "rss_one_room_kib": one,
        "rss_25_rooms_kib": many,
        "rss_parted_kib": after,
        "bytes_per_client": round((many - one) * 1024 / a.clients),
    }))


main()
