#!/usr/bin/env bash
# One run, side by side: the loopback ceiling, a stock Postfix relay and smarthost (release build,
# durable spool with real fsync, default settings), all measured with smtp-source -> relay ->
# smtp-sink by bench/postfix-relay-bench.sh: 1 and 20 sessions with one message per connection,
# then 20 sessions with many messages per connection (-d). Prints each system's table of medians
# and one summary with the ratios to Postfix and to the ceiling, smarthost's peak RSS and its CPU
# seconds per 1,000 messages.
#   bench/compare.sh                     # 5000 x 10 KB, 3 runs each
#   N=1000 RUNS=1 bench/compare.sh       # quick look
# Knobs are those of postfix-relay-bench.sh (N, SIZE, RUNS, WARMUP, ...).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
port=${SMARTHOST_BENCH_PORT:-2527}
sink_port=${SINK_PORT:-2999}
export N=${N:-5000} RUNS=${RUNS:-3} WARMUP=${WARMUP:-200}
bench_dir=${BENCH_DIR:-/tmp/harness-bench}
work=$(mktemp -d /tmp/smarthost-bench.XXXXXX)
pid=

cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

(cd "$root" && cargo build --release --quiet)
cat > "$work/smarthost.toml" <<TOML
[server]
listen = ["127.0.0.1:$port"]
hostname = "smarthost.bench"

[spool]
dir = "$work/spool"

[[upstream]]
name = "sink"
host = "127.0.0.1"
port = $sink_port
conn = "plaintext"
auth = "none"
TOML

SMARTHOST_LOG=warn "$root/target/release/smarthost" run --config "$work/smarthost.toml" 2>"$work/smarthost.log" &
pid=$!
for _ in $(seq 100); do
  ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && break
  sleep 0.1
done
kill -0 "$pid" || { cat "$work/smarthost.log"; exit 1; }

sent=0
for tag in single reuse; do
  if [ "$tag" = single ]; then export SOURCE_OPTS="" SESSIONS="20 1"; else export SOURCE_OPTS="-d" SESSIONS="20"; fi
  echo "=== one message per connection: no; SOURCE_OPTS='$SOURCE_OPTS' SESSIONS='$SESSIONS' ===" | sed 's/no; //'
  "$here/postfix-relay-bench.sh" all
  sed "s/^/$tag\t/" "$bench_dir/results.tsv" >> "$work/all.tsv"
  sed "s/^/$tag\t/" "$bench_dir/cpu.tsv" >> "$work/cpu.tsv"
  "$here/postfix-relay-bench.sh" external "127.0.0.1:$port" smarthost
  sed "s/^/$tag\t/" "$bench_dir/results.tsv" >> "$work/all.tsv"
  sed "s/^/$tag\t/" "$bench_dir/cpu.tsv" >> "$work/cpu.tsv"
  sessions_count=$(echo $SESSIONS | wc -w)
  sent=$((sent + N * RUNS * sessions_count + WARMUP))
done

rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$pid/status")
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14+$15)/hz}' "/proc/$pid/stat")
echo
echo "=== summary: medians, msg/s accept / drain; ratios of smarthost to Postfix and to the ceiling ==="
# all.tsv: tag system sessions n size accept_s drain_s accept_rate drain_rate runs
awk -F'\t' '
  { key=$1 FS $3; acc[$2 FS key]=$8; drn[$2 FS key]=$9; if (!(key in seen)) { seen[key]=1; order[++n]=key } }
  END {
    printf "%-8s %-8s | %-13s | %-13s | %-13s | %-11s | %-11s\n", "mode", "sessions", "direct", "postfix", "smarthost", "x postfix", "x ceiling"
    for (i = 1; i <= n; i++) {
      split(order[i], k, FS); d="direct" FS order[i]; p="postfix" FS order[i]; s="smarthost" FS order[i]
      mode = (k[1] == "reuse") ? "-d" : "1/conn"
      printf "%-8s %-8s | %5d / %5d | %5d / %5d | %5d / %5d | %4.1f / %4.1f | %4.2f / %4.2f\n", mode, k[2],
        acc[d], drn[d], acc[p], drn[p], acc[s], drn[s],
        acc[s]/acc[p], drn[s]/drn[p], acc[s]/acc[d], drn[s]/drn[d]
    }
  }' "$work/all.tsv"
echo "smarthost: peak RSS ${rss} MiB; CPU ${cpu} s for ${sent} messages = $(echo "scale=3; $cpu * 1000 / $sent" | bc) s per 1,000"
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
