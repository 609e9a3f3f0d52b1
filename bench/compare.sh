#!/usr/bin/env bash
# One run, side by side: the loopback ceiling, a stock Postfix relay and smarthost (release build,
# durable spool with real fsync, default settings), all measured with smtp-source -> relay ->
# smtp-sink by bench/postfix-relay-bench.sh. Prints each system's table of medians.
#   bench/compare.sh                     # 5000 x 10 KB, sessions 20 and 1, 3 runs each
#   N=1000 RUNS=1 bench/compare.sh       # quick look
# Knobs are those of postfix-relay-bench.sh (N, SIZE, RUNS, SESSIONS, SOURCE_OPTS, ...).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
port=${SMARTHOST_BENCH_PORT:-2527}
sink_port=${SINK_PORT:-2999}
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
  grep -q . <(ss -Hltn "sport = :$port" 2>/dev/null) && break
  sleep 0.1
done
kill -0 "$pid" || { cat "$work/smarthost.log"; exit 1; }

"$here/postfix-relay-bench.sh" all
"$here/postfix-relay-bench.sh" external "127.0.0.1:$port" smarthost
# Peak resident memory of smarthost over the whole run, and CPU seconds it used.
awk '/VmHWM/ {print "smarthost peak RSS: " $2/1024 " MiB"}' "/proc/$pid/status"
ticks=$(awk '{print $14+$15}' "/proc/$pid/stat")
echo "smarthost CPU: $(echo "$ticks / $(getconf CLK_TCK)" | bc -l | cut -c1-6) s"
