#!/usr/bin/env python3
"""Connection scaling: hold N idle client connections open to a running smarthost (each has read
its 220 greeting), then report smarthost's resident memory and how long a new session waits for
its greeting. Python stdlib only; binds nothing; connects to 127.0.0.1 only; closes everything
it opened before it exits.

    bench/idle-connections.py --port 2527 --pid PID --count 10000
"""
import argparse
import resource
import socket
import statistics
import time


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def greet(port, timeout=10.0):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = s.recv(512)
        if not chunk:
            raise RuntimeError("closed before the greeting")
        data += chunk
    return s, time.monotonic() - t0, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--count", type=int, default=10000)
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.count + 1000), hard))
    before = rss_mib(a.pid)
    held, refused = [], 0
    t0 = time.monotonic()
    try:
        for _ in range(a.count):
            s, _, data = greet(a.port)
            if not data.startswith(b"220"):
                refused += 1
                s.close()
                continue
            held.append(s)
        opened = time.monotonic() - t0
        during = rss_mib(a.pid)
        probes = []
        for _ in range(20):
            s, dt, data = greet(a.port)
            ok = data.startswith(b"220")
            s.close()
            probes.append(dt * 1000 if ok else float("inf"))
        print(f"idle connections held: {len(held)} (refused {refused}), opened in {opened:.1f} s")
        print(f"smarthost RSS: {before:.1f} MiB before, {during:.1f} MiB with {len(held)} idle connections "
              f"({(during - before) * 1024 / max(len(held), 1):.1f} KiB each)")
        print(f"new session greeting while they are held: median {statistics.median(probes):.2f} ms, "
              f"max {max(probes):.2f} ms over {len(probes)} probes")
    finally:
        for s in held:
            s.close()


if __name__ == "__main__":
    main()
