#!/usr/bin/env python3
"""blackhole.py -- a DNS "server" that reads queries and never answers.

Listens on UDP and TCP (default 127.0.0.1:5399).  Every UDP datagram is read
and dropped; every TCP connection is accepted, read from and held open
without a reply until the peer gives up (or 60 s pass).  dnsmasq forwards
timeout.smarthost.test here (tests/dns/zones.conf), so an SPF lookup of that
name times out.

Standard library only.  Exits on SIGTERM/SIGINT, and by itself after
--max-seconds (default 2 hours) so a forgotten instance cannot linger.
Started and stopped by tests/dns/test-dns.sh.
"""
import argparse
import selectors
import signal
import socket
import sys
import time

HOLD_TCP = 60.0  # seconds a silent TCP connection is kept open at most
MAX_TCP = 64     # connections held at once; older ones are closed first


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5399)
    ap.add_argument("--max-seconds", type=float, default=7200.0)
    ap.add_argument("--verbose", action="store_true", help="log every query to stderr")
    args = ap.parse_args()

    stop = False

    def on_signal(signum, _frame):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind((args.host, args.port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((args.host, args.port))
    tcp.listen(16)
    udp.setblocking(False)
    tcp.setblocking(False)

    sel = selectors.DefaultSelector()
    sel.register(udp, selectors.EVENT_READ, "udp")
    sel.register(tcp, selectors.EVENT_READ, "listen")
    conns = {}  # socket -> time accepted
    deadline = time.monotonic() + args.max_seconds
    udp_count = tcp_count = 0

    def log(msg: str) -> None:
        if args.verbose:
            print(f"[blackhole] {msg}", file=sys.stderr, flush=True)

    def drop(c: socket.socket) -> None:
        sel.unregister(c)
        conns.pop(c, None)
        c.close()

    print(f"[blackhole] listening on {args.host}:{args.port} udp+tcp, "
          f"exiting after {args.max_seconds:.0f} s", file=sys.stderr, flush=True)
    while not stop:
        now = time.monotonic()
        if now >= deadline:
            print("[blackhole] max lifetime reached, exiting", file=sys.stderr, flush=True)
            break
        for c, t in list(conns.items()):
            if now - t > HOLD_TCP:
                drop(c)
        try:
            events = sel.select(timeout=min(1.0, deadline - now))
        except InterruptedError:
            continue
        for key, _ in events:
            s = key.fileobj
            try:
                if key.data == "udp":
                    data, peer = s.recvfrom(65535)
                    udp_count += 1
                    log(f"udp query #{udp_count} ({len(data)} bytes) from {peer[0]}:{peer[1]}, dropped")
                elif key.data == "listen":
                    c, peer = s.accept()
                    c.setblocking(False)
                    if len(conns) >= MAX_TCP:
                        drop(min(conns, key=conns.get))
                    conns[c] = time.monotonic()
                    sel.register(c, selectors.EVENT_READ, "conn")
                    tcp_count += 1
                    log(f"tcp connection #{tcp_count} from {peer[0]}:{peer[1]}, held open")
                else:
                    if not s.recv(65535):
                        drop(s)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                if key.data == "conn":
                    drop(s)
    for c in list(conns):
        drop(c)
    udp.close()
    tcp.close()
    print(f"[blackhole] exiting ({udp_count} udp queries, {tcp_count} tcp connections)",
          file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
