#!/usr/bin/env bash
# One run, side by side: the loopback ceiling, a stock Postfix relay and smarthost (release build,
# durable spool with real fsync, default settings), all measured with smtp-source -> relay ->
# smtp-sink by bench/postfix-relay-bench.sh: 1 and 20 sessions with one message per connection,
# then 20 sessions with many messages per connection (-d). The three take turns, round after
# round. Prints the medians with the ratios to Postfix and to the ceiling (and each round's ratio),
# smarthost's peak RSS and CPU seconds per 1,000 messages, and where the machine's CPU went.
#   bench/compare.sh                     # 5000 x 10 KB, 3 rounds
#   N=1000 RUNS=1 bench/compare.sh       # quick look
#   POLICY=realistic bench/compare.sh    # also smarthost with real policy, in the same rounds
#   MODES=single SINGLE_SESSIONS=20 ...  # only 20 sessions, one message per connection
# Knobs are those of postfix-relay-bench.sh (N, SIZE, RUNS = rounds, WARMUP, ...).
#
# POLICY=realistic adds, at 20 sessions one message per connection, four more smarthost
# instances taking their turn in each round (bench/relay-config.sh has their sections): the
# sender and From: rewritten with Reply-To and a text signature ("rewrite"), DKIM RSA-2048 alone
# ("dkim-rsa"), both ("realistic"), and both with Ed25519 ("realistic-ed25519"). Each round also
# times one signature (openssl speed, one core) and, with bench/greeting-probe.py, the greeting
# of a new session every 50 ms during the no-policy and the realistic bursts. The summary gives
# each policy's DKIM bound: the cores over (the machine's CPU per message without DKIM + one
# signature), and the ratio of each configuration to it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
port=${SMARTHOST_BENCH_PORT:-2527}
sink_port=${SINK_PORT:-2999}
export N=${N:-5000} RUNS=${RUNS:-3} WARMUP=${WARMUP:-200}
POLICY=${POLICY:-none}
case "$POLICY" in none) policies="" ;; realistic) policies="rewrite dkim-rsa realistic realistic-ed25519" ;;
  *) echo "POLICY is none or realistic" >&2; exit 2 ;; esac
bench_dir=${BENCH_DIR:-/tmp/harness-bench}
work=$(mktemp -d /tmp/smarthost-bench.XXXXXX)
pid=
declare -A pids ports

cleanup() {
  for p in "${pids[@]}" ${probe:-}; do
    if kill -0 "$p" 2>/dev/null; then
      kill "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && cargo build --release --quiet)
SMARTHOST="${CARGO_TARGET_DIR:-$root/target}/release/smarthost"
. "$here/relay-config.sh"

# start_relay NAME PORT [POLICY [BINARY]]: one smarthost with its own spool.
start_relay() {
  local name=$1 p=$2 bin=${4:-$SMARTHOST}
  relay_config "$work/$name.toml" "$p" "$sink_port" "$work/spool-$name"
  [ -z "${3:-}" ] || relay_policy "$work/$name.toml" "$3" "$work"
  SMARTHOST_LOG=warn "$bin" run --config "$work/$name.toml" 2>"$work/$name.log" &
  pids[$name]=$!; ports[$name]=$p
  for _ in $(seq 100); do
    ss -Hltn "sport = :$p" 2>/dev/null | grep -q . && break
    sleep 0.1
  done
  kill -0 "${pids[$name]}" || { cat "$work/$name.log"; exit 1; }
}
start_relay smarthost "$port"
pid=${pids[smarthost]}
i=1
for pol in $policies; do start_relay "$pol" $((port + i)) "$pol"; i=$((i + 1)); done
# COMPARE="LABEL=/path/to/smarthost ...": A/B in the same rounds. Each binary runs as LABEL with
# no policy, in every mode; with POLICY=realistic the first also runs as LABEL-realistic.
extra=""
i=10
for entry in ${COMPARE:-}; do
  label=${entry%%=*}
  start_relay "$label" $((port + i)) "" "${entry#*=}"; extra="$extra $label"; i=$((i + 1))
  if [ -n "$policies" ] && [[ " $policies " != *"-realistic "* ]]; then
    start_relay "$label-realistic" $((port + i)) realistic "${entry#*=}"; i=$((i + 1))
    policies="$policies $label-realistic"
  fi
done

# measure NAME SESSIONS WARMUP: one round of one smarthost instance.
measure() {
  env RUNS=1 WARMUP="$3" KEEP_RELAY=1 SESSIONS="$2" "$here/postfix-relay-bench.sh" external "127.0.0.1:${ports[$1]}" "$1" >/dev/null
}
# collect TAG ROUND: the figures of the last measure into all.tsv and cpu.tsv.
collect() {
  sed "s/^/$1\t$2\t/" "$bench_dir/results.tsv" >> "$work/all.tsv"
  sed "s/^/$1\t/" "$bench_dir/cpu.tsv" | awk -F'\t' -v OFS='\t' -v r="$2" '{$4 = r; print}' >> "$work/cpu.tsv"
}
# One signature on one core, in ms, from openssl speed (sign/s is the next-to-last column).
sign_ms() {
  openssl speed -seconds 2 "$1" 2>/dev/null | awk -v pat="$2" '$0 ~ pat {v = $(NF-1)} END {if (v > 0) printf "%.4f", 1000 / v}'
}
# probe_during LABEL COMMAND...: the greeting latency of new sessions while COMMAND runs.
probe_during() {
  local label=$1 p=$2; shift 2
  python3 "$here/greeting-probe.py" --port "$p" --interval 0.05 > "$work/probe.out" &
  probe=$!
  "$@"
  kill -TERM "$probe"; wait "$probe" || true; probe=
  sed "s/^/$label\t/" "$work/probe.out" >> "$work/probes.tsv"
}

# The systems take turns, round by round (ceiling, Postfix, smarthost, then again): these machines
# drift by 20% over minutes, and a ratio between figures taken minutes apart measures the drift.
pf_started=0
if ! "$here/postfix-relay-bench.sh" status | grep -q "postfix relay: running"; then pf_started=1; fi
stop_postfix() { if [ "$pf_started" = 1 ]; then "$here/postfix-relay-bench.sh" stop-relay || true; fi; }
trap 'stop_postfix; cleanup' EXIT
sent=0
for tag in ${MODES:-single reuse}; do
  if [ "$tag" = single ]; then export SOURCE_OPTS="" SESSIONS="${SINGLE_SESSIONS:-20 1}"; else export SOURCE_OPTS="-d" SESSIONS="20"; fi
  echo "=== SOURCE_OPTS='$SOURCE_OPTS' SESSIONS='$SESSIONS', $RUNS rounds ==="
  for round in $(seq "$RUNS"); do
    # The first round of each mode warms every system up (process start, page cache, pools).
    warm=0; [ "$round" = 1 ] && warm=$WARMUP
    cut -d' ' -f1 /proc/loadavg >> "$work/load.txt"
    systems="direct postfix smarthost $extra"
    if [ "$tag" = single ] && [ -n "$policies" ]; then
      systems="$systems $policies"
      echo "$round rsa $(sign_ms rsa2048 '^rsa 2048 bits')" >> "$work/sign.txt"
      echo "$round ed25519 $(sign_ms ed25519 'Ed25519')" >> "$work/sign.txt"
    fi
    for sys in $systems; do
      if [ "$sys" = direct ] || [ "$sys" = postfix ]; then
        RUNS=1 WARMUP=$warm KEEP_RELAY=1 "$here/postfix-relay-bench.sh" "$sys" >/dev/null
        collect "$tag" "$round"
      elif [ -n "$policies" ] && [ "$tag" = single ]; then
        # The policies are measured at 20 sessions, one message per connection (the issue's
        # case), with the greeting probe on the no-policy and the realistic bursts.
        case "$sys" in smarthost|realistic|*-realistic) probe_during "$sys" "${ports[$sys]}" measure "$sys" 20 "$warm" ;;
          *) measure "$sys" 20 "$warm" ;; esac
        collect "$tag" "$round"
        if [[ " smarthost $extra " == *" $sys "* ]] && [[ " $SESSIONS " == *" 1 "* ]]; then
          measure "$sys" 1 0; collect "$tag" "$round"
        fi
      else
        measure "$sys" "$SESSIONS" "$warm"
        collect "$tag" "$round"
      fi
    done
    sessions_count=$(echo $SESSIONS | wc -w)
    sent=$((sent + N * sessions_count + warm))
  done
done
stop_postfix

rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' "/proc/$pid/stat")
echo
echo "=== summary: medians over $RUNS rounds, msg/s accept / drain; ratios of smarthost to Postfix and to the ceiling ==="
# all.tsv: tag round system sessions n size accept_s drain_s accept_rate drain_rate runs
python3 - "$work/all.tsv" $extra <<'PY'
import statistics, sys
rate = {}
for line in open(sys.argv[1]):
    tag, rnd, system, s, n, size, acc_s, dr_s, acc, dr, _ = line.rstrip("\n").split("\t")
    if acc == "n/a":
        continue
    rate.setdefault((tag, s), {}).setdefault(system, {})[rnd] = (float(acc), float(dr))
def med(rows, i):
    return statistics.median(r[i] for r in rows.values())
print("%-8s %-8s | %-13s | %-13s | %-13s | %-11s | %-11s | %s" % (
    "mode", "sessions", "direct", "postfix", "smarthost", "x postfix", "x ceiling", "x postfix per round (accept/drain)"))
for (tag, s), by in rate.items():
  for system in ["smarthost"] + sys.argv[2:]:
    d, p, sh = (by.get(k, {}) for k in ("direct", "postfix", system))
    if not (d and p and sh):
        continue
    m = {k: (med(v, 0), med(v, 1)) for k, v in (("d", d), ("p", p), ("s", sh))}
    rounds = " ".join("%.1f/%.1f" % (sh[r][0] / p[r][0], sh[r][1] / p[r][1]) for r in sorted(sh) if r in p)
    print("%-8s %-8s | %5.0f / %5.0f | %5.0f / %5.0f | %5.0f / %5.0f | %4.1f / %4.1f | %4.2f / %4.2f | %s%s" % (
        "-d" if tag == "reuse" else "1/conn", s, *m["d"], *m["p"], *m["s"],
        m["s"][0] / m["p"][0], m["s"][1] / m["p"][1], m["s"][0] / m["d"][0], m["s"][1] / m["d"][1], rounds,
        "" if system == "smarthost" else "  (" + system + ")"))
PY
echo "smarthost: peak RSS ${rss} MiB; CPU ${cpu} s for ${sent} messages = $(echo "scale=3; $cpu * 1000 / $sent" | bc) s per 1,000"
if [ -n "$policies" ]; then
  echo
  echo "=== policies: 20 sessions, 1 msg/conn; medians over $RUNS rounds ==="
  echo "1-minute load at the start of each round: $(tr '\n' ' ' < "$work/load.txt")"
  python3 "$here/policy-summary.py" "$work/all.tsv" "$work/cpu.tsv" "$work/sign.txt" "$work/probes.tsv" $extra
fi
echo
echo "=== where the CPU goes: medians per message over the measured window (start of smtp-source to the sink's last message) ==="
echo "machine = busy time of all $(nproc) CPUs (user+system+irq+softirq, steal excluded); relay+rest = machine - injector - sink"
python3 - "$work/cpu.tsv" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    tag, label, s, i, n, wall, busy, steal, src, sink, hz, cpus = line.rstrip("\n").split("\t")
    n, wall, busy, steal, src, sink, hz, cpus = int(n), float(wall), int(busy), int(steal), int(src), int(sink), int(hz), int(cpus)
    ms = lambda j: j * 1000.0 / hz / n
    runs.setdefault((tag, s, label), []).append(
        (n / wall, busy / hz / wall, steal / hz / wall, ms(busy), ms(src), ms(sink), ms(busy - src - sink)))
print("%-6s %-4s %-10s | %8s | %10s | %6s | %11s | %8s | %6s | %10s" % (
    "mode", "sess", "path", "drain/s", "busy cores", "steal", "machine ms", "injector", "sink", "relay+rest"))
for (tag, s, label), rows in runs.items():
    med = [statistics.median(c) for c in zip(*rows)]
    print("%-6s %-4s %-10s | %8.0f | %10.2f | %6.2f | %11.3f | %8.3f | %6.3f | %10.3f" % (
        "-d" if tag == "reuse" else "1/conn", s, label, *med))
PY
