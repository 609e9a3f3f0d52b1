#!/usr/bin/env python3
"""Greeting latency under load: while a burst runs, open a new SMTP session every INTERVAL
seconds, time how long its 220 greeting takes, send QUIT and close. Runs until SIGTERM (or
--duration), then prints one line: probes, median, p90 and max in ms. Python stdlib only;
connects to 127.0.0.1 only.

    bench/greeting-probe.py --port 2527 --interval 0.05 > probe.txt &   # ... kill -TERM $!
"""
import argparse
import signal
import socket
import statistics
import sys
import time

stop = False


def on_term(*_):
    global stop
    stop = True


def greet(port, timeout):
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(512)
            if not chunk:
                raise RuntimeError("closed before the greeting")
            data += chunk
        took = time.monotonic() - t0
        if not data.startswith(b"220"):
            raise RuntimeError(data.decode(errors="replace").strip())
        s.sendall(b"QUIT\r\n")
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--duration", type=float, default=3600)
    ap.add_argument("--timeout", type=float, default=10)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    took, errors = [], 0
    end = time.monotonic() + a.duration
    while not stop and time.monotonic() < end:
        try:
            took.append(greet(a.port, a.timeout) * 1000)
        except (OSError, RuntimeError):
            errors += 1
        time.sleep(a.interval)
    if not took:
        print("probes 0 errors %d" % errors)
        return
    took.sort()
    p90 = took[min(len(took) - 1, int(len(took) * 0.9))]
    print("probes %d errors %d median_ms %.2f p90_ms %.2f max_ms %.2f" % (
        len(took), errors, statistics.median(took), p90, took[-1]))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
