#!/usr/bin/env python3
"""The policy rows of bench/compare.sh (POLICY=realistic): medians over the rounds at 20
sessions, one message per connection, each configuration's ratio to no policy, its DKIM bound
and its ratio to that bound, and the greeting latency of new sessions during the bursts.

The DKIM bound: the machine is saturated, so a configuration's rate is at most
    cores / (machine CPU per message without the signature + one signature)
where the first term is measured in the same round (no policy for "dkim-rsa", "rewrite" for the
realistic ones) and the signature's cost comes from openssl speed on one core in the same run.

    policy-summary.py all.tsv cpu.tsv sign.txt probes.tsv
"""
import statistics
import sys

all_tsv, cpu_tsv, sign_txt, probes_tsv = sys.argv[1:5]
others = sys.argv[5:]  # the COMPARE labels
med = statistics.median

rate = {}  # system -> [(accept, drain)]
for line in open(all_tsv):
    tag, rnd, system, s, n, size, acc_s, dr_s, acc, dr, _ = line.rstrip("\n").split("\t")
    if tag == "single" and s == "20" and acc != "n/a":
        rate.setdefault(system, []).append((float(acc), float(dr)))

machine = {}  # label -> [machine ms per message]
cores = 2
for line in open(cpu_tsv):
    tag, label, s, i, n, wall, busy, steal, src, sink, hz, cpus = line.rstrip("\n").split("\t")
    if tag == "single" and s == "20":
        machine.setdefault(label, []).append(int(busy) * 1000.0 / int(hz) / int(n))
        cores = int(cpus)

sign = {}
for line in open(sign_txt):
    f = line.split()
    if len(f) == 3:
        sign.setdefault(f[1], []).append(float(f[2]))
sign = {k: med(v) for k, v in sign.items()}
print("one signature, one core (openssl speed, median of the rounds): RSA-2048 %.3f ms, "
      "Ed25519 %.3f ms; %d cores" % (sign.get("rsa", float("nan")), sign.get("ed25519", float("nan")), cores))

# configuration -> (the configuration without DKIM, the key)
dkim = {"dkim-rsa": ("smarthost", "rsa"), "realistic": ("rewrite", "rsa"),
        "realistic-ed25519": ("rewrite", "ed25519")}
dkim.update({o + "-realistic": ("rewrite", "rsa") for o in others})
base = rate.get("smarthost")
print("%-18s | %-13s | %-11s | %-10s | %-11s | %-13s | %s" % (
    "policy", "accept / drain", "x no policy", "machine ms", "DKIM bound", "x bound", "accept per round"))
for system in ["smarthost", "rewrite", "dkim-rsa", "realistic", "realistic-ed25519"] + [
        o + s for o in others for s in ("", "-realistic")]:
    rows = rate.get(system)
    if not rows:
        continue
    acc, dr = med(r[0] for r in rows), med(r[1] for r in rows)
    ms = med(machine[system]) if system in machine else float("nan")
    vs = "%4.2f / %4.2f" % (acc / med(r[0] for r in base), dr / med(r[1] for r in base)) if base else "-"
    bound, xb = "-", "-"
    if system in dkim and dkim[system][0] in machine and dkim[system][1] in sign:
        b = cores * 1000.0 / (med(machine[dkim[system][0]]) + sign[dkim[system][1]])
        bound, xb = "%.0f" % b, "%4.2f / %4.2f" % (acc / b, dr / b)
    per_round = " ".join("%.0f" % r[0] for r in rows)
    label = "no policy" if system == "smarthost" else system + (" (no policy)" if system in others else "")
    print("%-18s | %5.0f / %5.0f | %-11s | %10.3f | %11s | %-13s | %s" % (
        label, acc, dr, vs, ms, bound, xb, per_round))

probes = {}
try:
    for line in open(probes_tsv):
        label, rest = line.rstrip("\n").split("\t", 1)
        f = rest.split()
        kv = dict(zip(f[0::2], f[1::2]))
        if "median_ms" in kv:
            probes.setdefault(label, []).append(kv)
except FileNotFoundError:
    pass
for label, rows in probes.items():
    print("greeting of a new session every 50 ms during the %s burst: median %.2f ms, p90 %.2f ms, "
          "max %.2f ms (%d probes, %d errors; medians of the rounds, max of all)" % (
              "no-policy" if label == "smarthost" else label,
              med(float(r["median_ms"]) for r in rows), med(float(r["p90_ms"]) for r in rows),
              max(float(r["max_ms"]) for r in rows), sum(int(r["probes"]) for r in rows),
              sum(int(r["errors"]) for r in rows)))
