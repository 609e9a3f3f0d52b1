#!/usr/bin/env bash
# Memory under large messages (issue 18, finding 11): smarthost (release build) relaying to
# smtp-sink while SESSIONS clients each send one SIZE_MB message at once; prints the peak RSS
# (VmHWM) of the relay once every message has reached the sink. Target: six 30 MB messages
# under 320 MiB.
#   bench/memory.sh                 # SESSIONS=6 SIZE_MB=30 TARGET_MIB=320
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
sessions=${SESSIONS:-6}
size_mb=${SIZE_MB:-30}
target=${TARGET_MIB:-320}
port=${SMARTHOST_BENCH_PORT:-2529}
sink_port=${SMARTHOST_BENCH_SINK_PORT:-2998}
work=$(mktemp -d /tmp/smarthost-memory.XXXXXX)
pid= sink=
cleanup() {
  for p in $pid $sink; do
    if kill -0 "$p" 2>/dev/null; then kill "$p"; wait "$p" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
target_dir=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release --quiet)
# shellcheck source=bench/relay-config.sh
. "$here/relay-config.sh"
relay_config "$work/smarthost.toml" "$port" "$sink_port" "$work/spool"
smtp-sink -c "127.0.0.1:$sink_port" 100 >"$work/sink.log" 2>&1 &
sink=$!
SMARTHOST_LOG=warn "$target_dir/release/smarthost" run --config "$work/smarthost.toml" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do ss -Hltn "sport = :$port" | grep -q . && break; sleep 0.1; done
python3 - "$port" "$sessions" "$size_mb" "$pid" "$work/spool" "$target" <<'PY'
import smtplib, sys, threading, time, sqlite3, os
port, sessions, size_mb, pid, spool = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
target = int(sys.argv[6])
line = b"x" * 998 + b"\r\n"
body = b"Subject: memory bench\r\nFrom: a@bench.test\r\n\r\n" + line * (size_mb * 1000 * 1000 // len(line))
codes = []
def send():
    s = smtplib.SMTP("127.0.0.1", port, timeout=600)
    s.sendmail("a@bench.test", ["b@sink.test"], body)
    codes.append(250)
    s.quit()
start = time.time()
threads = [threading.Thread(target=send) for _ in range(sessions)]
for t in threads: t.start()
for t in threads: t.join()
accepted = time.time() - start
# Wait for the queue to drain: every message relayed to the sink.
db = os.path.join(spool, "spool.db")
for _ in range(1200):
    try:
        left = sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("SELECT count(*) FROM message").fetchone()[0]
    except Exception:
        left = -1
    if left == 0: break
    time.sleep(0.25)
hwm = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM")][0].split()[1]
print(f"{len(codes)}/{sessions} messages of {size_mb} MB accepted in {accepted:.1f}s; queue left: {left}")
peak = int(hwm) / 1024
print(f"peak RSS (VmHWM): {peak:.0f} MiB (target: under {target} MiB: {'met' if peak < target else 'NOT met'})")
PY
