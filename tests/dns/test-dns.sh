#!/usr/bin/env bash
# test-dns.sh — a private, loopback-only DNS server (dnsmasq) that serves the
# SPF and DKIM test zones in tests/dns/zones.conf, plus a "black hole" DNS
# listener that never answers (for lookup timeouts).
#
#   start    install missing packages, start dnsmasq and the black hole, wait
#            until both answer.  Safe to run concurrently (flock on $TEST_DNS_LOCK);
#            returns at once (exit 0) without touching anything when all runs.
#   stop     stop dnsmasq and the black hole (by the PIDs in their pid files only)
#   restart  stop + start (dnsmasq reads zones.conf only when it starts)
#   status   show PIDs and ports; exit 0 if both run and answer, 3 otherwise
#   ready    exit 0 if dnsmasq answers ready.smarthost.test TXT and the black
#            hole listens on UDP and TCP, else 3 (quiet)
#   env      print shell exports describing the server (for test suites);
#            `env --plain` prints KEY=VALUE lines
#   logs     tail the query log and the black hole log
#
# Listeners (127.0.0.1 only, UDP and TCP):
#   5353  dnsmasq: smarthost.test, outlook.com, google.com from zones.conf;
#         every record TTL 2 s; every query logged to $TEST_DNS_DIR/queries.log
#   5399  blackhole.py: reads queries, never answers (timeout.smarthost.test
#         is forwarded there)
#
# Nothing outside $TEST_DNS_DIR (default /tmp/smarthost-dns) is written, apart
# from installing Debian packages if missing.  Uses the dnsmasq binary from
# dnsmasq-base; no system service is configured or started.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE="${TEST_DNS_DIR:-/tmp/smarthost-dns}"
# the ports are fixed: zones.conf names the black hole's port itself
DNS_PORT=5353
HOLE_PORT=5399
ZONES="$HERE/zones.conf"
LOCK="${TEST_DNS_LOCK:-/tmp/smarthost-dns.lock}"
LOCK_TIMEOUT="${TEST_DNS_LOCK_TIMEOUT:-900}"
# Debian's python3: python3-dnspython/-dkim are installed for it (a pyenv or
# venv python3 earlier on PATH would not see them)
PY=/usr/bin/python3
DNSMASQ=/usr/sbin/dnsmasq

QUERY_LOG="$BASE/queries.log"
HOLE_LOG="$BASE/blackhole.log"
DNS_PID="$BASE/dnsmasq.pid"
HOLE_PID="$BASE/blackhole.pid"

log() { printf '[test-dns] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- packages
# pkg_installed and ensure_packages, shared with the Postfix harness and the bench.
# shellcheck source=../lib/packages.sh
. "$HERE/../lib/packages.sh"
WANT=(dnsmasq-base python3 python3-dkim python3-dnspython python3-nacl iproute2)

# ---------------------------------------------------------------- pid helpers
# pid_alive, stop_pid, take_lock and do_start, shared with the other test service scripts.
# shellcheck source=../lib/service.sh
. "$HERE/../lib/service.sh"

# what identifies our processes in /proc/PID/cmdline
DNS_PAT="--pid-file=$DNS_PID"
HOLE_PAT="blackhole.py"

udp_bound() { ss -Hlun "sport = :$1" 2>/dev/null | grep -q .; }
tcp_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
port_busy() { udp_bound "$1" || tcp_listening "$1"; }

# dns_answers: dnsmasq returns the probe record ready.smarthost.test TXT over UDP
# and TCP (a name of its own, so probes do not add to the SPF names' query counts)
dns_answers() {
    [ -x "$PY" ] || return 1
    "$PY" - "$DNS_PORT" <<'EOF' >/dev/null 2>&1
import sys
import dns.message, dns.query, dns.rdatatype
port = int(sys.argv[1])
want = b"test-dns ready"
for send in (dns.query.udp, dns.query.tcp):
    r = send(dns.message.make_query("ready.smarthost.test", "TXT"), "127.0.0.1", port=port, timeout=2)
    got = [b"".join(rd.strings) for rrset in r.answer if rrset.rdtype == dns.rdatatype.TXT for rd in rrset]
    if got != [want]:
        sys.exit(1)
EOF
}

is_ready() {
    pid_alive "$DNS_PID" "$DNS_PAT" >/dev/null &&
    pid_alive "$HOLE_PID" "$HOLE_PAT" >/dev/null &&
    udp_bound "$HOLE_PORT" && tcp_listening "$HOLE_PORT" &&
    dns_answers
}

# ---------------------------------------------------------------- components
start_blackhole() {
    local pid
    if pid="$(pid_alive "$HOLE_PID" "$HOLE_PAT")"; then
        log "black hole already running (pid $pid)"; return 0
    fi
    port_busy "$HOLE_PORT" && die "port $HOLE_PORT is busy (not our black hole)"
    # stops by itself after 2 hours at most
    nohup "$PY" "$HERE/blackhole.py" --host 127.0.0.1 --port "$HOLE_PORT" --max-seconds 7200 \
        >>"$HOLE_LOG" 2>&1 </dev/null 8>&- 9>&- &
    echo $! > "$HOLE_PID"
    for _ in $(seq 1 100); do
        udp_bound "$HOLE_PORT" && tcp_listening "$HOLE_PORT" && break
        pid_alive "$HOLE_PID" "$HOLE_PAT" >/dev/null || die "black hole exited at once, see $HOLE_LOG"
        sleep 0.1
    done
    udp_bound "$HOLE_PORT" && tcp_listening "$HOLE_PORT" \
        || die "black hole is not listening on 127.0.0.1:$HOLE_PORT after 10 s, see $HOLE_LOG"
    log "black hole started (pid $(cat "$HOLE_PID")) on 127.0.0.1:$HOLE_PORT udp+tcp"
}

start_dnsmasq() {
    local pid
    if pid="$(pid_alive "$DNS_PID" "$DNS_PAT")"; then
        log "dnsmasq already running (pid $pid)"; return 0
    fi
    rm -f "$DNS_PID"
    port_busy "$DNS_PORT" && die "port $DNS_PORT is busy (not our dnsmasq)"
    [ -r "$ZONES" ] || die "missing $ZONES"
    # dnsmasq drops to user nobody and makes the query log nobody:root 0660:
    # readable by root (the tests run as root, see tests/run.sh)
    # dnsmasq forks into the background itself (no --keep-in-foreground), writes
    # its pid file, and exits non-zero here if the config or the bind fails.
    # --no-resolv/--no-hosts: nothing but zones.conf; other names are REFUSED.
    "$DNSMASQ" \
        --conf-file="$ZONES" \
        --pid-file="$DNS_PID" \
        --listen-address=127.0.0.1 --bind-interfaces --port="$DNS_PORT" \
        --no-resolv --no-hosts --no-poll \
        --local-ttl=2 \
        --log-queries --log-facility="$QUERY_LOG" \
        </dev/null >>"$BASE/dnsmasq-cmd.log" 2>&1 8>&- 9>&- \
        || die "dnsmasq failed to start: $(tail -n 3 "$BASE/dnsmasq-cmd.log" | tr '\n' ' ')"
    for _ in $(seq 1 100); do
        pid_alive "$DNS_PID" "$DNS_PAT" >/dev/null && dns_answers && break
        sleep 0.1
    done
    pid_alive "$DNS_PID" "$DNS_PAT" >/dev/null || die "dnsmasq is not running, see $BASE/dnsmasq-cmd.log and $QUERY_LOG"
    dns_answers || die "dnsmasq does not answer ready.smarthost.test TXT on 127.0.0.1:$DNS_PORT after 10 s, see $QUERY_LOG"
    log "dnsmasq started (pid $(tr -dc 0-9 < "$DNS_PID")) on 127.0.0.1:$DNS_PORT udp+tcp, zones $ZONES"
}

do_start_locked() {
    mkdir -p "$BASE"
    chmod 755 "$BASE"
    ensure_packages "$BASE/apt.log" "${WANT[@]}"
    command -v ss >/dev/null || die "ss (iproute2) is missing"
    [ -x "$DNSMASQ" ] || die "$DNSMASQ is missing (package dnsmasq-base)"
    start_blackhole
    start_dnsmasq
    is_ready || die "not everything came up; run: $0 status"
    log "ready: resolver 127.0.0.1:$DNS_PORT (udp+tcp, TTL 2 s), black hole 127.0.0.1:$HOLE_PORT, query log $QUERY_LOG"
}

do_stop() {
    stop_pid "$DNS_PID" "$DNS_PAT" dnsmasq
    stop_pid "$HOLE_PID" "$HOLE_PAT" "black hole"
    return 0
}

do_status() {
    local rc=0 pid p
    if pid="$(pid_alive "$DNS_PID" "$DNS_PAT")"; then echo "dnsmasq   : running (pid $pid) zones $ZONES"; else echo "dnsmasq   : stopped"; rc=3; fi
    if pid="$(pid_alive "$HOLE_PID" "$HOLE_PAT")"; then echo "black hole: running (pid $pid)"; else echo "black hole: stopped"; rc=3; fi
    for p in "$DNS_PORT" "$HOLE_PORT"; do
        echo "port $p : udp $(udp_bound "$p" && echo bound || echo closed), tcp $(tcp_listening "$p" && echo listening || echo closed)"
    done
    if dns_answers; then echo "answers   : yes (ready.smarthost.test TXT, udp+tcp)"; else echo "answers   : no"; rc=3; fi
    echo "query log : $QUERY_LOG"
    return $rc
}

do_env() {
    cat <<EOF
export TEST_DNS_HOST=127.0.0.1
export TEST_DNS_PORT=$DNS_PORT
export TEST_DNS_BLACKHOLE_PORT=$HOLE_PORT
export TEST_DNS_QUERY_LOG=$QUERY_LOG
export TEST_DNS_TTL=2
export TEST_DNS_KEYS_DIR=$HERE/keys
EOF
}

cmd="${1:-}"
case "$cmd" in
    start)   do_start ;;
    stop)    take_lock; do_stop ;;
    restart) take_lock; do_stop; do_start_locked ;;
    status)  do_status ;;
    ready)   is_ready || exit 3 ;;
    env)     if [ "${2:-}" = --plain ]; then do_env | sed 's/^export //'; else do_env; fi ;;
    logs)    tail -n "${2:-40}" "$QUERY_LOG" "$HOLE_LOG" 2>/dev/null ;;
    *) echo "usage: $0 start|stop|restart|status|ready|env [--plain]|logs [N]" >&2; exit 2 ;;
esac
