#!/usr/bin/env python3
"""Snapshot scenario helpers for tools/bench/snapshot.sh (stdlib only).

  load PORT N SIZE          load N keys key:0..N-1 with SIZE-byte values (pipelined)
  ping PORT STOPFILE OUT    PING in a loop until STOPFILE exists; write max/p99 latency (ms) to OUT
  rss PID STOPFILE OUT      sample VmRSS (kB) of PID and its children every 20 ms; write the peak to OUT
  info PORT FIELD           print one INFO field
"""
import os, socket, sys, time


def conn(port):
    s = socket.create_connection(("127.0.0.1", int(port)))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_reply(f):
    line = f.readline()
    t = line[:1]
    if t == b"$":
        n = int(line[1:])
        return None if n < 0 else f.read(n + 2)[:-2]
    if t == b"*":
        return [read_reply(f) for _ in range(int(line[1:]))]
    return line[1:].rstrip(b"\r\n")


def load(port, n, size):
    s = conn(port)
    f = s.makefile("rb")
    value = b"v" * int(size)
    batch = 1000
    for start in range(0, int(n), batch):
        end = min(int(n), start + batch)
        # redis-benchmark's key names (-r N draws key:%012d below N), so the
        # SET load overwrites these keys rather than adding new ones.
        s.sendall(b"".join(cmd(b"SET", b"key:%012d" % i, value) for i in range(start, end)))
        for _ in range(start, end):
            read_reply(f)


def ping(port, stopfile, out):
    s = conn(port)
    f = s.makefile("rb")
    lat = []
    while not os.path.exists(stopfile):
        t0 = time.perf_counter()
        s.sendall(b"*1\r\n$4\r\nPING\r\n")
        read_reply(f)
        lat.append((time.perf_counter() - t0) * 1000.0)
        time.sleep(0.001)
    lat.sort()
    p99 = lat[int(len(lat) * 0.99)] if lat else 0
    over_2ms = sum(1 for x in lat if x > 2.0)
    with open(out, "w") as o:
        o.write("%.2f %.2f %d %d\n" % (lat[-1] if lat else 0, p99, len(lat), over_2ms))


def rss_of(pid):
    try:
        with open("/proc/%s/status" % pid) as st:
            for line in st:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    try:
        with open("/proc/%s/task/%s/children" % (pid, pid)) as c:
            return c.read().split()
    except OSError:
        return []


def rss(pid, stopfile, out):
    peak = 0
    while not os.path.exists(stopfile):
        total = rss_of(pid) + sum(rss_of(c) for c in children(pid))
        peak = max(peak, total)
        time.sleep(0.02)
    with open(out, "w") as o:
        o.write("%d\n" % peak)


def info(port, field):
    s = conn(port)
    f = s.makefile("rb")
    s.sendall(cmd("INFO", "everything"))
    text = read_reply(f).decode()
    for line in text.splitlines():
        if line.startswith(field + ":"):
            print(line.split(":", 1)[1])
            return
    print("n/a")


if __name__ == "__main__":
    what = sys.argv[1]
    {"load": lambda a: load(*a), "ping": lambda a: ping(*a), "rss": lambda a: rss(*a), "info": lambda a: info(*a)}[what](sys.argv[2:])
