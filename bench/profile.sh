#!/usr/bin/env bash
# Where smarthost spends its CPU while relaying a burst: perf samples (cpu-clock, call graphs) of
# the `profiling` build (release with debug info: the shipped release build has none), durable spool, 20 sessions one message per connection into smtp-sink.
# Prints the split by thread and by user/kernel, the hottest functions, and writes folded stacks
# (and an SVG flame graph when inferno-flamegraph or flamegraph.pl is on the PATH) to OUT.
#   bench/profile.sh                    # 5000 x 10 KB; OUT=/tmp/smarthost-profile
#   N=20000 SESSIONS=20 bench/profile.sh
# Needs perf (Debian: linux-perf) and smtp-source/smtp-sink (postfix); run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
N=${N:-5000} SIZE=${SIZE:-10240} SESSIONS=${SESSIONS:-20}
port=${SMARTHOST_BENCH_PORT:-2527} sink_port=${SINK_PORT:-2999}
out=${OUT:-/tmp/smarthost-profile}
command -v perf >/dev/null || { echo "perf is missing: apt-get install linux-perf" >&2; exit 2; }
mkdir -p "$out"
work=$(mktemp -d /tmp/smarthost-profile.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() { for _ in $(seq 100); do ss -Hltn "sport = :$1" | grep -q . && return 0; sleep 0.1; done; return 1; }
source_run() {
  /usr/sbin/smtp-source -s "$1" -m "$2" -l "$SIZE" -f bench@example.test -t rcpt@example.net \
    -M bench.harness.test "127.0.0.1:$port" >/dev/null
}

(cd "$root" && cargo build --profile profiling --quiet)
. "$here/relay-config.sh"
relay_config "$work/smarthost.toml" "$port" "$sink_port" "$work/spool"
/usr/sbin/smtp-sink -u nobody "127.0.0.1:$sink_port" 1024 & pids+=($!)
SMARTHOST_LOG=warn "${CARGO_TARGET_DIR:-$root/target}/profiling/smarthost" run --config "$work/smarthost.toml" 2>"$work/log" &
relay=$!; pids+=($relay)
wait_port "$sink_port"; wait_port "$port"
source_run 10 200   # warm-up: process start, page cache, pooled upstream connections

perf record -q -e cpu-clock -g -p "$relay" -o "$out/perf.data" 2>"$work/perf.log" &
rec=$!; pids+=($rec)
sleep 0.5
t0=$(date +%s.%N)
source_run "$SESSIONS" "$N"
t1=$(date +%s.%N)
sleep 1   # the last deliveries
kill -INT "$rec"; wait "$rec" 2>/dev/null || true

report() { perf report -i "$out/perf.data" --stdio --no-children -g none "$@" 2>/dev/null | grep '%' || true; }
echo "accept: $N messages in $(echo "$t1 - $t0" | bc) s, $SESSIONS sessions"
echo "--- by thread"; report --sort comm | head -6
echo "--- user / kernel"; report --sort dso | awk '{d = ($2 ~ /kernel/) ? "kernel" : "user"; s[d] += $1} END {for (k in s) printf "%6.2f%%  %s\n", s[k], k}'
echo "--- hottest functions (self)"; report --sort sym | head -25
perf script -i "$out/perf.data" 2>/dev/null > "$out/perf.script"
if command -v inferno-collapse-perf >/dev/null; then
  inferno-collapse-perf "$out/perf.script" > "$out/stacks.folded"
  inferno-flamegraph "$out/stacks.folded" > "$out/flamegraph.svg"
  echo "flame graph: $out/flamegraph.svg"
elif command -v stackcollapse-perf.pl >/dev/null && command -v flamegraph.pl >/dev/null; then
  stackcollapse-perf.pl "$out/perf.script" > "$out/stacks.folded"
  flamegraph.pl "$out/stacks.folded" > "$out/flamegraph.svg"
  echo "flame graph: $out/flamegraph.svg"
else
  echo "perf script output: $out/perf.script (cargo install inferno for a flame graph)"
fi
