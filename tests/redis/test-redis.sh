#!/usr/bin/env bash
# test-redis.sh — a private, loopback-only redis-server for the shared-limits tests (tests/cluster.rs).
#
#   start    install redis-server if missing (without starting the system service), start our
#            own instance on 127.0.0.1:6390, wait until it answers PING. Safe to run concurrently;
#            returns at once when it already runs.
#   stop     stop it (by the PID in its pid file only)
#   ready    exit 0 if it answers PING, else 3 (quiet)
#   env      print shell exports (`env --plain`: KEY=VALUE)
#
# No persistence (no RDB, no AOF), no protected-mode surprises: it binds 127.0.0.1 only and
# stops by itself after 3 hours at most. Nothing outside $TEST_REDIS_DIR (default
# /tmp/smarthost-redis) is written, apart from installing the package.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE="${TEST_REDIS_DIR:-/tmp/smarthost-redis}"
PORT="${TEST_REDIS_PORT:-6390}"
LOCK="${TEST_REDIS_LOCK:-/tmp/smarthost-redis.lock}"
LOCK_TIMEOUT="${TEST_REDIS_LOCK_TIMEOUT:-900}"
PIDFILE="$BASE/redis.pid"
LOGFILE="$BASE/redis.log"
SERVER=/usr/bin/redis-server
CLI=/usr/bin/redis-cli
PAT="--port $PORT"

log() { printf '[test-redis] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# shellcheck source=../lib/packages.sh
. "$HERE/../lib/packages.sh"
# shellcheck source=../lib/service.sh
. "$HERE/../lib/service.sh"

answers() { [ -x "$CLI" ] && [ "$("$CLI" -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ]; }
is_ready() { pid_alive "$PIDFILE" "$PAT" >/dev/null && answers; }

do_start_locked() {
    mkdir -p "$BASE"
    ensure_packages "$BASE/apt.log" redis-server
    [ -x "$SERVER" ] || die "$SERVER is missing (package redis-server)"
    if ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q .; then
        die "port $PORT is busy (not our redis)"
    fi
    # timeout(1) ends it after 3 hours whatever happens to the test run.
    nohup timeout 10800 "$SERVER" --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no \
        --dir "$BASE" --logfile "$LOGFILE" --daemonize no \
        </dev/null >>"$LOGFILE" 2>&1 8>&- 9>&- &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 100); do
        answers && break
        sleep 0.1
    done
    # The pid file holds timeout's pid; its command line names the port too.
    is_ready || die "redis-server does not answer on 127.0.0.1:$PORT after 10 s, see $LOGFILE"
    log "redis-server started (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT"
}

do_stop() {
    stop_pid "$PIDFILE" "$PAT" redis-server
}

case "${1:-}" in
    start) do_start ;;
    stop) take_lock; do_stop ;;
    ready) is_ready || exit 3 ;;
    env)
        out="export TEST_REDIS_URL=redis://127.0.0.1:$PORT"
        if [ "${2:-}" = --plain ]; then echo "${out#export }"; else echo "$out"; fi ;;
    *) echo "usage: $0 start|stop|ready|env [--plain]" >&2; exit 2 ;;
esac
