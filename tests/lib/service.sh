# Helpers for the test service scripts (tests/harness, tests/dns). They start a service once
# however many test binaries ask at the same time, and stop only the processes they started, by
# the PID in their pid file, checking the PID still runs what they started (PID reuse).
# The caller defines log(), die(), is_ready(), do_start_locked(), LOCK and LOCK_TIMEOUT.

# The lock is on fd 9 and released when the script exits. Every daemon is started with 9>&- so
# none of them inherits (and holds) it.
take_lock() {
    exec 9>"$LOCK"
    flock -w "$LOCK_TIMEOUT" 9 || die "timed out after ${LOCK_TIMEOUT}s waiting for $LOCK"
}

# Already up: return at once, without the lock. Otherwise take it, and look again: another caller
# may have finished starting the service while this one waited.
do_start() {
    if is_ready; then log "already running"; return 0; fi
    take_lock
    if is_ready; then log "already running"; return 0; fi
    do_start_locked
}

# pid_alive PIDFILE PATTERN -> prints pid and returns 0 if that pid runs a
# process whose command line contains PATTERN (guards against PID reuse).
pid_alive() {
    local f="$1" pat="$2" pid
    [ -s "$f" ] || return 1
    pid="$(tr -dc '0-9' < "$f")"
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$pat" || return 1
    echo "$pid"
}

# stop_pid PIDFILE PATTERN NAME: TERM, wait up to 10 s, then KILL.
stop_pid() {
    local f="$1" pat="$2" name="$3" pid
    if ! pid="$(pid_alive "$f" "$pat")"; then
        rm -f "$f"; return 0
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        [ -d "/proc/$pid" ] || { rm -f "$f"; return 0; }
        sleep 0.1
    done
    log "$name (pid $pid) did not exit, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
}
