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

rate = {}  # system -> {round: (accept, drain)}
for line in open(all_tsv):
    tag, rnd, system, s, n, size, acc_s, dr_s, acc, dr, _ = line.rstrip("\n").split("\t")
    if tag == "single" and s == "20" and acc != "n/a":
        rate.setdefault(system, {})[rnd] = (float(acc), float(dr))

machine = {}  # label -> {round: machine ms per message}
cores = 2
for line in open(cpu_tsv):
    tag, label, s, rnd, n, wall, busy, steal, src, sink, hz, cpus = line.rstrip("\n").split("\t")
    if tag == "single" and s == "20":
        machine.setdefault(label, {})[rnd] = int(busy) * 1000.0 / int(hz) / int(n)
        cores = int(cpus)

sign_by_round = {}  # key -> {round: ms}
for line in open(sign_txt):
    f = line.split()
    if len(f) == 3 and f[2]:
        sign_by_round.setdefault(f[1], {})[f[0]] = float(f[2])
sign = {k: med(v.values()) for k, v in sign_by_round.items()}
print("one signature, one core (openssl speed, median of the rounds): RSA-2048 %.3f ms, "
      "Ed25519 %.3f ms; %d cores" % (sign.get("rsa", float("nan")), sign.get("ed25519", float("nan")), cores))

# configuration -> (the configuration without DKIM, the key)
dkim = {"dkim-rsa": ("smarthost", "rsa"), "realistic": ("rewrite", "rsa"),
        "realistic-ed25519": ("rewrite", "ed25519")}
dkim.update({o + "-realistic": ("rewrite", "rsa") for o in others})
def bound(system, rnd):
    """The DKIM bound of one round: cores / (CPU per message without DKIM + one signature)."""
    without, key = dkim[system]
    ms, sig = machine.get(without, {}).get(rnd), sign_by_round.get(key, {}).get(rnd)
    return None if ms is None or sig is None else cores * 1000.0 / (ms + sig)

base = rate.get("smarthost", {})
print("%-22s | %-13s | %-11s | %-10s | %-10s | %-11s | %s" % (
    "policy", "accept / drain", "x no policy", "machine ms", "DKIM bound", "x bound", "per round: accept (x no policy, x bound)"))
for system in ["smarthost", "rewrite", "dkim-rsa", "realistic", "realistic-ed25519"] + [
        o + s for o in others for s in ("", "-realistic")]:
    rows = rate.get(system)
    if not rows:
        continue
    acc, dr = med(r[0] for r in rows.values()), med(r[1] for r in rows.values())
    ms = med(machine[system].values()) if system in machine else float("nan")
    vs = [rows[r][0] / base[r][0] for r in rows if r in base]
    bounds = {r: bound(system, r) for r in rows} if system in dkim else {}
    xb = [rows[r][0] / b for r, b in bounds.items() if b]
    per_round = " ".join("%.0f (%.2f%s)" % (
        rows[r][0], rows[r][0] / base[r][0] if r in base else float("nan"),
        ", %.2f" % (rows[r][0] / bounds[r]) if bounds.get(r) else "") for r in sorted(rows))
    label = "no policy" if system == "smarthost" else system + (" (no policy)" if system in others else "")
    print("%-22s | %5.0f / %5.0f | %11s | %10.3f | %10s | %11s | %s" % (
        label, acc, dr, "%.2f" % med(vs) if vs else "-", ms,
        "%.0f" % med(b for b in bounds.values() if b) if xb else "-", "%.2f" % med(xb) if xb else "-",
        per_round))
print("(x no policy and x bound: medians of the per-round ratios; each round's bound uses that "
      "round's CPU per message and signature time)")

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
