#!/usr/bin/env bash
# Connection scaling: smarthost (release build) with 1,000 and then 10,000 idle client
# connections held open; prints its RSS and the greeting latency of a new session meanwhile.
#   bench/scaling.sh            # COUNTS="1000 10000"
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
port=${SMARTHOST_BENCH_PORT:-2528}
work=$(mktemp -d /tmp/smarthost-scaling.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
(cd "$root" && cargo build --release --quiet)
cat > "$work/smarthost.toml" <<TOML
[server]
listen = ["127.0.0.1:$port"]
max_connections = 20000
[spool]
dir = "$work/spool"
[[upstream]]
name = "outbox"
kind = "file"
dir = "$work/outbox"
TOML
ulimit -n "$(ulimit -Hn)"
SMARTHOST_LOG=warn "$root/target/release/smarthost" run --config "$work/smarthost.toml" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
for count in ${COUNTS:-1000 10000}; do
  echo "--- $count idle connections"
  python3 "$here/idle-connections.py" --port "$port" --pid "$pid" --count "$count"
done
