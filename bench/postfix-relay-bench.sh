#!/usr/bin/env bash
# postfix-relay-bench.sh — performance anchor for an SMTP relay, using only the
# tools shipped in Debian's postfix package (smtp-source / smtp-sink).
#
#   injector  smtp-source -s S -m N -l SIZE  ──►  relay under test  ──►  smtp-sink -c -M N
#                                                 (127.0.0.1:PORT)       (127.0.0.1:2999)
#   accept rate = N / (time until smtp-source exits: every message got its 250)
#   drain  rate = N / (time until smtp-sink has received N messages and exits)
#   both measured from the moment smtp-source starts.
#
# usage: postfix-relay-bench.sh [all]            direct + postfix (default)
#        postfix-relay-bench.sh direct           smtp-source -> smtp-sink, no relay (loopback ceiling)
#        postfix-relay-bench.sh postfix          through a private postfix relay on 127.0.0.1:2526
#        postfix-relay-bench.sh external HOST:PORT [LABEL]
#                                                through any relay already running at HOST:PORT
#                                                that forwards to 127.0.0.1:$SINK_PORT (e.g. the
#                                                relay under test)
#        postfix-relay-bench.sh start-relay | stop-relay | status
#
# knobs (environment): N=5000 SIZE=10240 RUNS=3 SESSIONS="20 1" WARMUP=200
#   SINK_PORT=2999 RELAY_PORT=2526 BENCH_DIR=/tmp/harness-bench DRAIN_TIMEOUT=600
#   SOURCE_OPTS="-d" makes smtp-source reuse each connection for many messages
#   (default: one message per connection).  KEEP_RELAY=1 leaves the postfix
#   relay running afterwards.
# Results: a table on stdout (medians of RUNS runs) and $BENCH_DIR/results.tsv.
# Everything is loopback only; the script stops every process it started.
#
# Part of smarthost (bench/); adapted from the shared mail harness.  Only
# needs the postfix package (installed with apt-get when missing; the system
# postfix service is never started).  To bench smarthost, run it so that it
# listens on some 127.0.0.1 port and relays (no TLS/AUTH) to 127.0.0.1:2999,
# then: bench/postfix-relay-bench.sh external 127.0.0.1:PORT smarthost
set -euo pipefail

N="${N:-5000}"
SIZE="${SIZE:-10240}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-200}"
SOURCE_OPTS="${SOURCE_OPTS:-}"   # extra smtp-source flags, e.g. "-d" (many messages per connection)
SESSIONS="${SESSIONS:-20 1}"
SINK_PORT="${SINK_PORT:-2999}"
RELAY_PORT="${RELAY_PORT:-2526}"
B="${BENCH_DIR:-/tmp/harness-bench}"
DRAIN_TIMEOUT="${DRAIN_TIMEOUT:-600}"
CONF="$B/postfix/etc"
QUEUE="$B/postfix/queue"
DATA="$B/postfix/data"
LOGD="$B/log"
PF_PID="$QUEUE/pid/master.pid"
RESULTS="$B/results.tsv"
CPU_RESULTS="$B/cpu.tsv"
FROM="bench-sender@example.test"
TO="bench-rcpt@example.net"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
APT_LOCK=/tmp/harness-apt.lock   # shared with tests/harness/upstream-postfix.sh
ensure_packages() {
    pkg_installed postfix && pkg_installed iproute2 && return 0
    [ "$(id -u)" = 0 ] || die "need root to install postfix"
    # one installer at a time, so the temporary policy-rc.d is not removed
    # under another install (fd 8 is released when the script exits)
    exec 8>"$APT_LOCK"
    flock -w 900 8 || die "timed out waiting for $APT_LOCK"
    pkg_installed postfix && pkg_installed iproute2 && { exec 8>&-; return 0; }
    log "installing postfix iproute2 (for smtp-source/smtp-sink and the relay; apt-get update + install, log $B/apt.log)"
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
    fi
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    local rc=0 apt_opts=(-y -q -o DPkg::Lock::Timeout=600)
    # fresh machines (CI) have empty package lists: always update first
    DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update </dev/null >"$B/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install --no-install-recommends postfix iproute2 \
        </dev/null >>"$B/apt.log" 2>&1 || rc=$?
    if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    exec 8>&-
    [ "$rc" = 0 ] || die "apt-get install postfix failed, see $B/apt.log"
}

port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
wait_port() {
    for _ in $(seq 1 200); do port_listening "$1" && return 0; sleep 0.05; done
    die "nothing listening on 127.0.0.1:$1"
}
pf_pid() {
    local pid
    [ -s "$PF_PID" ] || return 1
    pid="$(tr -dc 0-9 < "$PF_PID")"
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -q master || return 1
    echo "$pid"
}
queue_files() { find "$QUEUE"/{maildrop,incoming,active,deferred,hold} -type f 2>/dev/null | wc -l; }

# ---------------------------------------------------------------- postfix relay
write_relay_config() {
    mkdir -p "$CONF" "$QUEUE" "$DATA" "$LOGD"
    cat > "$CONF/main.cf" <<EOF
# harness bench relay — generated by postfix-relay-bench.sh
# stock Postfix $(/usr/sbin/postconf -d -h mail_version 2>/dev/null || echo 3.x) defaults except what a pure loopback relay needs
compatibility_level = 3.6
queue_directory = $QUEUE
data_directory = $DATA
mail_owner = postfix
setgid_group = postdrop
syslog_name = harness-bench
maillog_file = $LOGD/maillog
maillog_file_prefixes = $B
myhostname = relay.bench.harness.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
local_transport = error:5.1.1 local delivery disabled
relayhost = [127.0.0.1]:$SINK_PORT
smtp_bind_address = 127.0.0.1
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtpd_relay_restrictions = permit_mynetworks, reject
biff = no
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 10s
EOF
    cat > "$CONF/master.cf" <<EOF
127.0.0.1:$RELAY_PORT inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
}

start_relay() {
    local pid
    if pid="$(pf_pid)"; then log "postfix relay already running (pid $pid)"; return 0; fi
    port_listening "$RELAY_PORT" && die "port $RELAY_PORT busy (not our relay)"
    write_relay_config
    /usr/sbin/postfix -c "$CONF" set-permissions >/dev/null 2>&1 || true
    /usr/sbin/postfix -c "$CONF" check || die "postfix check failed (see $LOGD/maillog)"
    /usr/sbin/postfix -c "$CONF" start </dev/null >/dev/null 2>&1 || die "postfix start failed (see $LOGD/maillog)"
    wait_port "$RELAY_PORT"
    log "postfix relay started (pid $(pf_pid)) 127.0.0.1:$RELAY_PORT -> [127.0.0.1]:$SINK_PORT, queue $QUEUE"
}

stop_relay() {
    local pid
    pid="$(pf_pid)" || return 0
    log "stopping postfix relay (pid $pid)"
    /usr/sbin/postfix -c "$CONF" stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- one measurement
# smtp-sink -c prints "sess=.. quit=.. mesg=.." (CR-separated) after every
# message/session and flushes it; this watcher stamps the moment mesg reaches N.
# (smtp-sink -M N would exit on the N-th "." before replying 250, which makes
# the last client see "lost connection" — so the sink is stopped afterwards.)
WATCH="$B/run/sink-watch.py"
write_watcher() {
    cat > "$WATCH" <<'PYEOF'
import os, sys, time
want, stamp = int(sys.argv[1]), sys.argv[2]
buf, last, done = b"", b"", False
while True:
    d = os.read(0, 65536)
    if not d:
        break
    buf += d
    parts = buf.replace(b"\n", b"\r").split(b"\r")
    buf = parts[-1]
    for p in parts[:-1]:
        if not p:
            continue
        last = p
        if not done and p.startswith(b"sess="):
            m = dict(kv.split(b"=", 1) for kv in p.split() if b"=" in kv)
            if int(m.get(b"mesg", 0)) >= want:
                now = time.time()
                with open(stamp + ".tmp", "w") as f:
                    f.write("%.6f\n" % now)
                os.replace(stamp + ".tmp", stamp)
                done = True
print(last.decode(errors="replace"))
PYEOF
}

SINK_PIDFILE="$B/run/smtp-sink.pid"
stop_sink() {
    [ -s "$SINK_PIDFILE" ] || return 0
    local p; p="$(cat "$SINK_PIDFILE")"
    if { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null | grep -q smtp-sink; then
        kill -TERM "$p" 2>/dev/null || true
        for _ in $(seq 1 50); do [ -d "/proc/$p" ] || break; sleep 0.1; done
    fi
    rm -f "$SINK_PIDFILE"
}
cleanup() {
    stop_sink
    if [ "${KEEP_RELAY:-0}" != 1 ] && [ "${STARTED_RELAY:-0}" = 1 ]; then stop_relay; fi
    return 0
}

# run_once LABEL TARGET_HOST TARGET_PORT SESSIONS RUN# -> prints "accept_s drain_s"
run_once() {
    local label="$1" host="$2" port="$3" s="$4" i="$5"
    local tag="$label-s$s-r$i" ts="$B/run/sink-done.ts"
    port_listening "$SINK_PORT" && die "port $SINK_PORT is busy; stop whatever listens there"
    rm -f "$ts"
    /usr/sbin/smtp-sink -u nobody -c "127.0.0.1:$SINK_PORT" 1024 \
        2>"$LOGD/sink-$tag.err" > >(/usr/bin/python3 "$WATCH" "$N" "$ts" >"$LOGD/sink-$tag.log" 2>&1) &
    echo $! > "$SINK_PIDFILE"
    wait_port "$SINK_PORT"
    local t0 t1 t2 rc=0 j0 j2 sink_pid sink_cpu
    sink_pid="$(cat "$SINK_PIDFILE")"
    rm -f "$B/run/source.cpu"
    j0="$(cpu_jiffies)"
    t0="$(now)"
    # The wrapper shell reports the CPU its smtp-source used (its children's utime+stime), so the
    # machine's busy time can be split into injector, sink and relay.
    # shellcheck disable=SC2086,SC2016
    /bin/bash -c '/usr/sbin/smtp-source "$@"; rc=$?; awk "{print \$16+\$17}" /proc/$$/stat > "'"$B/run/source.cpu"'"; exit $rc' _ \
        $SOURCE_OPTS -s "$s" -m "$N" -l "$SIZE" -f "$FROM" -t "$TO" -M bench.harness.test \
        "$host:$port" >"$LOGD/source-$tag.log" 2>&1 || rc=$?
    t1="$(now)"
    [ "$rc" = 0 ] || log "smtp-source exited $rc (see $LOGD/source-$tag.log)"
    # wait (bounded) until the sink has counted N messages
    local deadline=$(( $(date +%s) + DRAIN_TIMEOUT ))
    while [ ! -s "$ts" ]; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "drain timeout after ${DRAIN_TIMEOUT}s ($tag)"
            stop_sink; echo "FAIL FAIL"; return 0
        fi
        sleep 0.05
    done
    t2="$(cat "$ts")"
    j2="$(cpu_jiffies)"
    sink_cpu="$(awk '{print $14+$15}' "/proc/$sink_pid/stat" 2>/dev/null || echo 0)"
    # label sessions run N wall_s busy_jiffies steal_jiffies source_jiffies sink_jiffies hz cpus
    if [ "$i" != warmup ]; then
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$s" "$i" "$N" \
            "$(awk -v a="$t0" -v c="$t2" 'BEGIN{printf "%.3f", c-a}')" \
            "$(( ${j2% *} - ${j0% *} ))" "$(( ${j2#* } - ${j0#* } ))" \
            "$(cat "$B/run/source.cpu" 2>/dev/null || echo 0)" "$sink_cpu" "$(getconf CLK_TCK)" "$(nproc)" >> "$CPU_RESULTS"
    fi
    # let the relay see its last 250s and close its cached connections
    if [ "$label" = postfix ]; then
        for _ in $(seq 1 100); do [ "$(queue_files)" = 0 ] && break; sleep 0.1; done
    fi
    sleep 0.5
    stop_sink
    [ "$rc" = 0 ] || { echo "FAIL FAIL"; return 0; }
    awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN{printf "%.3f %.3f\n", b-a, c-a}'
}

# "busy steal" jiffies of the whole machine: user+nice+system+irq+softirq, and time the hypervisor
# gave to other guests.
cpu_jiffies() { awk '/^cpu / {print $2+$3+$4+$7+$8, $9; exit}' /proc/stat; }

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{a[NR]=$1} END{ if (NR==0) {print "n/a"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }

# bench LABEL HOST PORT
bench() {
    local label="$1" host="$2" port="$3" s i r acc dr
    if [ "$WARMUP" -gt 0 ]; then
        # one unmeasured warm-up run (process start-up, page cache, TCP state)
        [ "$label" = postfix ] && sleep 1
        N_SAVE="$N"; N="$WARMUP"
        r="$(run_once "$label" "$host" "$port" 10 warmup)"
        N="$N_SAVE"
        log "$label warm-up ($WARMUP msgs, 10 sessions): $r"
    fi
    for s in $SESSIONS; do
        local accs="" drs="" detail=""
        for i in $(seq 1 "$RUNS"); do
            if [ "$label" = postfix ]; then
                # previous run fully drained? (cached smtp connections idle out after 2 s)
                for _ in $(seq 1 50); do [ "$(queue_files)" = 0 ] && break; sleep 0.2; done
                [ "$(queue_files)" = 0 ] || log "warning: relay queue not empty before run"
                sleep 3
            else
                sleep 1
            fi
            r="$(run_once "$label" "$host" "$port" "$s" "$i")"
            acc="${r% *}"; dr="${r#* }"
            if [ "$acc" = FAIL ]; then
                log "$label sessions=$s run $i FAILED"; detail="$detail FAIL"; continue
            fi
            accs="$accs $acc"; drs="$drs $dr"
            log "$(printf '%-10s sessions=%-3s run %d: accept %7.3fs (%6.0f msg/s)  drain %7.3fs (%6.0f msg/s)' \
                "$label" "$s" "$i" "$acc" "$(awk -v n="$N" -v t="$acc" 'BEGIN{print n/t}')" \
                "$dr" "$(awk -v n="$N" -v t="$dr" 'BEGIN{print n/t}')")"
            detail="$detail $(awk -v n="$N" -v a="$acc" -v d="$dr" 'BEGIN{printf "%.0f/%.0f", n/a, n/d}')"
        done
        local ma md
        ma="$(echo "$accs" | median)"; md="$(echo "$drs" | median)"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$s" "$N" "$SIZE" "$ma" "$md" \
            "$(awk -v n="$N" -v t="$ma" 'BEGIN{ if (t+0>0) printf "%.0f", n/t; else print "n/a"}')" \
            "$(awk -v n="$N" -v t="$md" 'BEGIN{ if (t+0>0) printf "%.0f", n/t; else print "n/a"}')" \
            "${detail# }" >> "$RESULTS"
    done
}

print_results() {
    echo
    echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), kernel $(uname -r)"
    echo "postfix $(/usr/sbin/postconf -d -h mail_version 2>/dev/null), queue fs: $(df -T "$B" | awk 'NR==2{print $2" on "$1}')"
    local conn="one message per SMTP connection (smtp-source default)"
    case " $SOURCE_OPTS " in *" -d "*) conn="many messages per SMTP connection (smtp-source -d)";; esac
    echo "messages per run: $N x $SIZE bytes body, 1 recipient each, $conn; median of $RUNS runs; warm-up $WARMUP msgs"
    echo
    printf '| %-22s | %8s | %14s | %13s | %11s | %10s | %s\n' system sessions "accept msg/s" "drain msg/s" "accept s" "drain s" "per-run accept/drain msg/s"
    printf '|%s|%s|%s|%s|%s|%s|%s\n' ------------------------ ---------- ---------------- --------------- ------------- ------------ -----------------------------
    awk -F'\t' '{printf "| %-22s | %8s | %14s | %13s | %11s | %10s | %s\n", $1, $2, $7, $8, $5, $6, $9}' "$RESULTS"
    echo
    echo "reproduce one run by hand (the script automates exactly this):"
    echo "  /usr/sbin/smtp-sink -u nobody -c 127.0.0.1:$SINK_PORT 1024 | tr '\\r' '\\n' > /tmp/sink.count &   # counter: sess=.. quit=.. mesg=.."
    echo "  time /usr/sbin/smtp-source ${SOURCE_OPTS:+$SOURCE_OPTS }-s SESSIONS -m $N -l $SIZE -f $FROM -t $TO -M bench.harness.test 127.0.0.1:PORT   # = accept time"
    echo "  # drain time = until the sink counter shows mesg=$N; then kill the smtp-sink PID"
    echo "  PORT=$SINK_PORT: direct (ceiling); PORT=$RELAY_PORT: postfix relay (postfix -c $CONF start)"
    echo "  or simply: N=$N SIZE=$SIZE RUNS=$RUNS SESSIONS='$SESSIONS'${SOURCE_OPTS:+ SOURCE_OPTS='$SOURCE_OPTS'} $0 ${BENCH_CMD:-all}"
}

mkdir -p "$B/run" "$LOGD"
cmd="${1:-all}"
BENCH_CMD="$*"
case "$cmd" in
    all|direct|postfix|external)
        ensure_packages
        write_watcher
        trap cleanup EXIT
        : > "$RESULTS"; : > "$CPU_RESULTS"
        log "N=$N SIZE=$SIZE RUNS=$RUNS SESSIONS='$SESSIONS' sink 127.0.0.1:$SINK_PORT"
        if [ "$cmd" = all ] || [ "$cmd" = direct ]; then
            bench direct 127.0.0.1 "$SINK_PORT"
        fi
        if [ "$cmd" = all ] || [ "$cmd" = postfix ]; then
            if ! pf_pid >/dev/null; then STARTED_RELAY=1; fi
            start_relay
            bench postfix 127.0.0.1 "$RELAY_PORT"
        fi
        if [ "$cmd" = external ]; then
            target="${2:?usage: $0 external HOST:PORT [LABEL]}"
            bench "${3:-external}" "${target%:*}" "${target##*:}"
        fi
        print_results
        ;;
    start-relay) ensure_packages; start_relay ;;
    stop-relay)  stop_relay ;;
    status)
        if pid="$(pf_pid)"; then echo "postfix relay: running (pid $pid) on 127.0.0.1:$RELAY_PORT"; else echo "postfix relay: stopped"; fi
        if port_listening "$SINK_PORT"; then echo "port $SINK_PORT: in use"; else echo "port $SINK_PORT: free"; fi
        ;;
    *) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
