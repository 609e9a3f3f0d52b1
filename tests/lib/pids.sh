# Process helpers for the test service scripts (tests/harness, tests/dns): they stop only the
# processes they started, by the PID in their pid file, and check the PID still runs what they
# started (PID reuse). The caller defines log().

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
