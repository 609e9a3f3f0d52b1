#!/usr/bin/env bash
# upstream-postfix.sh — a private, loopback-only Postfix + Dovecot-SASL instance
# that plays the "upstream smarthost" for an SMTP relay under test, and hands
# every message it accepts to a file sink (/tmp/harness-sink/<n>.eml + .json).
#
#   start    install missing packages, (re)write config, start sink, dovecot, postfix.
#            Safe to run concurrently (flock on $HARNESS_LOCK); returns at once
#            (exit 0) without touching anything when everything already runs.
#   stop     stop postfix, both dovecots, sink (by PID) — only what this script started
#   restart  stop + start
#   status   show PIDs and listening ports; exit 0 if all four run, 3 otherwise
#   clear    delete received messages from the sink dir and purge the postfix queue
#   queue    show the postfix queue of this instance (postqueue -p)
#   flush    ask this instance to retry deferred mail now
#   logs     tail the postfix maillog, dovecot and sink logs
#   env      print shell exports describing the harness (for test suites);
#            `env --plain` prints the same as KEY=VALUE lines (no "export ")
#   ready    exit 0 if all four daemons run and all ports listen, else 3 (quiet)
#
# Listeners (all 127.0.0.1 only):
#   2587  submission: STARTTLS required, AUTH required (PLAIN LOGIN CRAM-MD5)
#   2589  submission for OAuth2: STARTTLS required, AUTH required (XOAUTH2
#         OAUTHBEARER only), via a second dovecot whose passdb is oauth2: every
#         token is checked by a POST to http://127.0.0.1:2980/introspect, a
#         server the tests run themselves (nothing listens there otherwise;
#         then every AUTH fails).  See README "OAuth2 port 2589".
#   2465  implicit TLS (smtps/"submissions"), AUTH required
#   2590  client-certificate relay: STARTTLS required, asks for a client
#         certificate, relays only for the fingerprints in relay_clientcerts
#         (the harness client certificate $TLSD/client-cert.pem); no AUTH
#   2025  plain SMTP, no TLS, no AUTH; relays for 127.0.0.0/8
#   2591  a 7-bit, ASCII-only server: like 2025, but smtputf8_enable = no and
#         8BITMIME not advertised (smtpd_discard_ehlo_keywords), the upstream
#         of old mail systems for the 8-bit/UTF-8 conversion tests
#   2998  the file sink itself (postfix delivers everything here)
# Fault injection (all ports): recipient local part "reject*" -> 550 5.1.1,
#   "tempfail*" -> 451 4.3.0 (at RCPT time).
#
# Nothing outside $HARNESS_POSTFIX_DIR (default /tmp/harness-postfix) and the
# sink dir is written, apart from installing Debian packages if missing. The
# system postfix/dovecot (if any) is neither configured nor started.
#
# Part of smarthost's test harness (tests/harness/); adapted from the shared
# mail harness.  All paths to sibling scripts are relative to this file.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE="${HARNESS_POSTFIX_DIR:-/tmp/harness-postfix}"
SINK_DIR="${HARNESS_SINK_DIR:-/tmp/harness-sink}"
SINK_PORT="${HARNESS_SINK_PORT:-2998}"
PLAIN_PORT="${HARNESS_PLAIN_PORT:-2025}"
SUBM_PORT="${HARNESS_SUBMISSION_PORT:-2587}"
SMTPS_PORT="${HARNESS_SMTPS_PORT:-2465}"
OAUTH2_PORT="${HARNESS_OAUTH2_PORT:-2589}"
CCERT_PORT="${HARNESS_CCERT_PORT:-2590}"
SEVENBIT_PORT="${HARNESS_7BIT_PORT:-2591}"
# the token introspection endpoint dovecot POSTs token=<token> to (RFC 7662 style)
OAUTH2_INTROSPECT_URL="${HARNESS_OAUTH2_INTROSPECT_URL:-http://127.0.0.1:2980/introspect}"
# per-request HTTP timeout of dovecot's introspection call (a hung server fails the AUTH after this)
OAUTH2_TIMEOUT_MSECS="${HARNESS_OAUTH2_TIMEOUT_MSECS:-5000}"
SASL_USER="${HARNESS_SASL_USER:-relay@example.test}"
SASL_PASS="${HARNESS_SASL_PASS:-secret}"
# serialises start/stop/restart/clear between concurrent callers (test processes)
LOCK="${HARNESS_LOCK:-/tmp/harness-postfix.lock}"
LOCK_TIMEOUT="${HARNESS_LOCK_TIMEOUT:-900}"
PY=/usr/bin/python3

CONF="$BASE/etc"
QUEUE="$BASE/queue"
DATA="$BASE/data"
TLSD="$BASE/tls"
DOVE="$BASE/dovecot"
LOGD="$BASE/log"
RUND="$BASE/run"
SINK_PID="$RUND/sink.pid"
DOVE_PID="$DOVE/run/master.pid"
# second dovecot instance: the OAuth2 (XOAUTH2/OAUTHBEARER) auth socket only
DOVE2="$BASE/dovecot-oauth2"
DOVE2_PID="$DOVE2/run/master.pid"
AUTH_SOCK="$QUEUE/private/auth"
AUTH2_SOCK="$QUEUE/private/auth-oauth2"
PF_PID="$QUEUE/pid/master.pid"

log() { printf '[upstream-postfix] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- packages
# pkg_installed and ensure_packages, shared with the test DNS and the bench.
# shellcheck source=../lib/packages.sh
. "$HERE/../lib/packages.sh"
WANT=(postfix dovecot-core swaks openssl libnet-ssleay-perl python3 iproute2 curl)

# ---------------------------------------------------------------- pid helpers
# pid_alive, stop_pid, take_lock and do_start, shared with the other test service scripts.
# shellcheck source=../lib/service.sh
. "$HERE/../lib/service.sh"

port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# atomic_write FILE < content: write a temp file and rename it into place, so
# a running postfix/dovecot never reads a half-written config file
atomic_write() {
    cat > "$1.tmp.$$"
    mv -f "$1.tmp.$$" "$1"
}

# ready: every daemon alive (pid file + /proc cmdline), every port listening
# and the dovecot auth socket present.  Quiet; the fast path of `start`.
is_ready() {
    pid_alive "$PF_PID" master >/dev/null &&
    pid_alive "$DOVE_PID" dovecot >/dev/null &&
    pid_alive "$DOVE2_PID" dovecot-oauth2 >/dev/null &&
    pid_alive "$SINK_PID" smtp-file-sink >/dev/null &&
    [ -S "$AUTH_SOCK" ] && [ -S "$AUTH2_SOCK" ] &&
    port_listening "$PLAIN_PORT" && port_listening "$SUBM_PORT" &&
    port_listening "$SMTPS_PORT" && port_listening "$OAUTH2_PORT" &&
    port_listening "$CCERT_PORT" && [ -s "$CONF/relay_clientcerts" ] &&
    port_listening "$SEVENBIT_PORT" &&
    port_listening "$SINK_PORT"
}

wait_port() {
    local port="$1" name="$2"
    for _ in $(seq 1 100); do
        port_listening "$port" && return 0
        sleep 0.1
    done
    die "$name is not listening on 127.0.0.1:$port after 10 s"
}

# ---------------------------------------------------------------- config
# The certificate is self-signed *and* marked CA:FALSE (end entity), so the
# same cert.pem works as the trust root for rustls/webpki (which rejects a
# CA:TRUE certificate presented as the server's own cert: CaUsedAsEndEntity)
# and for OpenSSL clients (Python ssl --cafile, openssl s_client -CAfile).
write_tls() {
    mkdir -p "$TLSD"
    if [ ! -s "$TLSD/cert.pem" ] || [ ! -s "$TLSD/key.pem" ] \
        || ! openssl x509 -checkend 86400 -noout -in "$TLSD/cert.pem" >/dev/null 2>&1 \
        || ! openssl x509 -noout -text -in "$TLSD/cert.pem" 2>/dev/null | grep -q 'CA:FALSE'; then
        log "generating self-signed certificate in $TLSD"
        cat > "$TLSD/openssl.cnf" <<'EOF'
[req]
prompt = no
distinguished_name = dn
x509_extensions = leaf
[dn]
CN = localhost
[leaf]
basicConstraints = critical, CA:FALSE
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = DNS:localhost, DNS:upstream.harness.test, IP:127.0.0.1
EOF
        openssl req -x509 -config "$TLSD/openssl.cnf" -newkey rsa:2048 -sha256 -days 365 -nodes \
            -keyout "$TLSD/key.pem.tmp" -out "$TLSD/cert.pem.tmp" >/dev/null 2>&1 \
            || die "openssl could not create the certificate"
        mv "$TLSD/key.pem.tmp" "$TLSD/key.pem"
        mv "$TLSD/cert.pem.tmp" "$TLSD/cert.pem"
    fi
    chmod 600 "$TLSD/key.pem"
    chmod 644 "$TLSD/cert.pem"
}

# The client certificate port $CCERT_PORT relays for: self-signed, CA:FALSE,
# clientAuth; Postfix knows it by its SHA-256 fingerprint only (relay_clientcerts),
# as permit_tls_clientcerts does not need a trusted chain.
write_client_cert() {
    if [ ! -s "$TLSD/client-cert.pem" ] || [ ! -s "$TLSD/client-key.pem" ] \
        || ! openssl x509 -checkend 86400 -noout -in "$TLSD/client-cert.pem" >/dev/null 2>&1; then
        log "generating the client certificate in $TLSD"
        cat > "$TLSD/client.cnf" <<'EOF2'
[req]
prompt = no
distinguished_name = dn
x509_extensions = leaf
[dn]
CN = relay.harness.test
[leaf]
basicConstraints = critical, CA:FALSE
extendedKeyUsage = clientAuth
subjectAltName = DNS:relay.harness.test
EOF2
        openssl req -x509 -config "$TLSD/client.cnf" -newkey rsa:2048 -sha256 -days 365 -nodes \
            -keyout "$TLSD/client-key.pem.tmp" -out "$TLSD/client-cert.pem.tmp" >/dev/null 2>&1 \
            || die "openssl could not create the client certificate"
        mv "$TLSD/client-key.pem.tmp" "$TLSD/client-key.pem"
        mv "$TLSD/client-cert.pem.tmp" "$TLSD/client-cert.pem"
    fi
    chmod 644 "$TLSD/client-key.pem" "$TLSD/client-cert.pem"
    mkdir -p "$CONF"
    local fp
    fp="$(openssl x509 -noout -fingerprint -sha256 -in "$TLSD/client-cert.pem" | sed 's/^.*=//')"
    printf '%s relay.harness.test\n' "$fp" | atomic_write "$CONF/relay_clientcerts"
}

write_dovecot() {
    mkdir -p "$DOVE/run"
    chmod 755 "$DOVE" "$DOVE/run"
    # CRAM-MD5 needs the plaintext (or CRAM-MD5 hashed) password on the server.
    printf '%s:{PLAIN}%s::::::\n' "$SASL_USER" "$SASL_PASS" > "$DOVE/passwd.tmp.$$"
    chown root:dovecot "$DOVE/passwd.tmp.$$"
    chmod 640 "$DOVE/passwd.tmp.$$"
    mv -f "$DOVE/passwd.tmp.$$" "$DOVE/passwd"
    atomic_write "$DOVE/dovecot.conf" <<EOF
# harness dovecot: SASL auth service for the harness postfix only
instance_name = harness-dovecot
base_dir = $DOVE/run
state_dir = $DOVE/state
protocols =
listen = 127.0.0.1
log_path = $LOGD/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5
auth_verbose = yes
auth_verbose_passwords = no
# tests want fast, deterministic failures: no 2 s failure delay and no
# per-IP brute-force penalty (2..15 s) for loopback clients
auth_failure_delay = ${HARNESS_AUTH_FAILURE_DELAY:-0}
login_trusted_networks = 127.0.0.0/8
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DOVE/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  unix_listener $QUEUE/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF
    mkdir -p "$DOVE/state"
}

# A second, separate dovecot instance for port 2589: its only auth socket
# ($AUTH2_SOCK) offers XOAUTH2 and OAUTHBEARER and nothing else, and its only
# passdb is oauth2 with RFC 7662-style introspection (POST token=<token>).
# Dovecot 2.3 has one mechanism list per auth service, so "only these two
# mechanisms on that socket" needs its own instance.  No auth cache
# (auth_cache_size = 0; the oauth2 passdb of 2.3 caches nothing itself), so every
# AUTH makes one fresh introspection request: a revoked token fails at once.
write_dovecot_oauth2() {
    mkdir -p "$DOVE2/run" "$DOVE2/state"
    chmod 755 "$DOVE2" "$DOVE2/run"
    atomic_write "$DOVE2/oauth2.conf.ext" <<EOF
# harness dovecot-oauth2: how each XOAUTH2/OAUTHBEARER token is checked.
# POST $OAUTH2_INTROSPECT_URL  body token=<url-escaped token>
# accepted when: HTTP 2xx, JSON object, "username" == the SASL user
# (lowercased on both sides), "active" == true.
introspection_mode = post
introspection_url = $OAUTH2_INTROSPECT_URL
username_attribute = username
active_attribute = active
active_value = true
force_introspection = yes
timeout_msecs = $OAUTH2_TIMEOUT_MSECS
# do not keep idle HTTP connections to the test's server around for long
max_idle_time_msecs = 1000
max_parallel_connections = 4
EOF
    chmod 644 "$DOVE2/oauth2.conf.ext"
    atomic_write "$DOVE2/dovecot.conf" <<EOF
# harness dovecot-oauth2: XOAUTH2/OAUTHBEARER SASL for the harness postfix port $OAUTH2_PORT only
instance_name = harness-dovecot-oauth2
base_dir = $DOVE2/run
state_dir = $DOVE2/state
protocols =
listen = 127.0.0.1
log_path = $LOGD/dovecot-oauth2.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = xoauth2 oauthbearer
auth_verbose = yes
auth_verbose_passwords = no
auth_debug = ${HARNESS_OAUTH2_DEBUG:-no}
# never cache: each AUTH asks the introspection server again
auth_cache_size = 0
auth_failure_delay = ${HARNESS_AUTH_FAILURE_DELAY:-0}
login_trusted_networks = 127.0.0.0/8
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DOVE2/oauth2.conf.ext
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  unix_listener $AUTH2_SOCK {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF
}

write_postfix() {
    mkdir -p "$CONF" "$QUEUE" "$DATA"
    atomic_write "$CONF/main.cf" <<EOF
# harness upstream postfix — generated by upstream-postfix.sh, do not edit
compatibility_level = 3.6
queue_directory = $QUEUE
data_directory = $DATA
mail_owner = postfix
setgid_group = postdrop
syslog_name = harness-upstream
maillog_file = $LOGD/maillog
maillog_file_prefixes = $BASE

myhostname = upstream.harness.test
mydomain = harness.test
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP harness-upstream (Postfix)
biff = no
append_dot_mydomain = no
# never add/rewrite headers on behalf of clients: tests see what the relay sent
local_header_rewrite_clients =

# nothing is local: every recipient goes to the file sink
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
local_transport = error:5.1.1 local delivery disabled in the harness
relayhost = [127.0.0.1]:$SINK_PORT
smtp_tls_security_level = none
smtp_bind_address = 127.0.0.1

# retry fast if the sink is down; do not keep mail for days
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 30s
maximal_queue_lifetime = 1h
bounce_queue_lifetime = 1h
delay_warning_time = 0
message_size_limit = 52428800
mailbox_size_limit = 0

# TLS (server side); self-signed cert generated by the script
smtpd_tls_cert_file = $TLSD/cert.pem
smtpd_tls_key_file = $TLSD/key.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes

# SASL via the harness dovecot (socket $QUEUE/private/auth)
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_authenticated_header = yes
broken_sasl_auth_clients = yes

smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access regexp:$CONF/recipient_access
EOF
    atomic_write "$CONF/recipient_access" <<'EOF'
# fault injection for relay tests (local part prefix)
/^reject[^@]*@/     550 5.1.1 harness: recipient rejected (local part starts with "reject")
/^tempfail[^@]*@/   451 4.3.0 harness: temporary failure (local part starts with "tempfail")
EOF
    atomic_write "$CONF/master.cf" <<EOF
# harness upstream postfix master.cf — generated, no chroot, loopback only
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$PLAIN_PORT inet n - n - - smtpd
  -o syslog_name=harness-upstream/plain
  -o smtpd_tls_security_level=none
  -o smtpd_sasl_auth_enable=no
  -o smtpd_relay_restrictions=permit_mynetworks,reject
127.0.0.1:$SUBM_PORT inet n - n - - smtpd
  -o syslog_name=harness-upstream/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o syslog_name=harness-upstream/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
127.0.0.1:$OAUTH2_PORT inet n - n - - smtpd
  -o syslog_name=harness-upstream/oauth2
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_path=private/auth-oauth2
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
127.0.0.1:$CCERT_PORT inet n - n - - smtpd
  -o syslog_name=harness-upstream/ccert
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_ask_ccert=yes
  -o smtpd_tls_fingerprint_digest=sha256
  -o relay_clientcerts=texthash:$CONF/relay_clientcerts
  -o smtpd_sasl_auth_enable=no
  -o smtpd_client_restrictions=
  -o smtpd_relay_restrictions=permit_tls_clientcerts,reject_unauth_destination
127.0.0.1:$SEVENBIT_PORT inet n - n - - smtpd
  -o syslog_name=harness-upstream/sevenbit
  -o smtpd_tls_security_level=none
  -o smtpd_sasl_auth_enable=no
  -o smtputf8_enable=no
  -o smtpd_discard_ehlo_keywords=8bitmime,smtputf8
  -o smtpd_relay_restrictions=permit_mynetworks,reject
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
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
}

# ---------------------------------------------------------------- components
start_sink() {
    if pid="$(pid_alive "$SINK_PID" smtp-file-sink)"; then
        log "sink already running (pid $pid)"; return 0
    fi
    port_listening "$SINK_PORT" && die "port $SINK_PORT is busy (not our sink)"
    mkdir -p "$SINK_DIR"
    nohup "$PY" "$HERE/smtp-file-sink.py" --dir "$SINK_DIR" --host 127.0.0.1 \
        --port "$SINK_PORT" --verbose >>"$LOGD/sink.log" 2>&1 </dev/null 8>&- 9>&- &
    echo $! > "$SINK_PID"
    wait_port "$SINK_PORT" "file sink"
    log "sink started (pid $(cat "$SINK_PID")) on 127.0.0.1:$SINK_PORT -> $SINK_DIR"
}

# start_dovecot_instance NAME CONF PIDFILE PATTERN SOCKET
start_dovecot_instance() {
    local name="$1" conf="$2" pidf="$3" pat="$4" sock="$5" pid
    if pid="$(pid_alive "$pidf" "$pat")"; then
        log "$name already running (pid $pid)"; return 0
    fi
    mkdir -p "$QUEUE/private"
    /usr/sbin/dovecot -c "$conf" </dev/null >>"$LOGD/dovecot-cmd.log" 2>&1 8>&- 9>&- \
        || die "$name failed to start, see $LOGD/dovecot-cmd.log and $LOGD/$name.log"

    for _ in $(seq 1 50); do
        [ -S "$sock" ] && break
        sleep 0.1
    done
    [ -S "$sock" ] || die "$name auth socket $sock did not appear"
    log "$name started (pid $(cat "$pidf")), auth socket $sock"
}

start_dovecot() {
    start_dovecot_instance dovecot "$DOVE/dovecot.conf" "$DOVE_PID" dovecot "$AUTH_SOCK"
    start_dovecot_instance dovecot-oauth2 "$DOVE2/dovecot.conf" "$DOVE2_PID" dovecot-oauth2 "$AUTH2_SOCK"
}

start_postfix() {
    if pid="$(pid_alive "$PF_PID" master)"; then
        log "postfix already running (pid $pid), reloading config"
        /usr/sbin/postfix -c "$CONF" reload >>"$LOGD/postfix-cmd.log" 2>&1 </dev/null 8>&- 9>&- || true
        # a reload also opens listeners added to master.cf since the start
        local p
        for p in "$PLAIN_PORT" "$SUBM_PORT" "$SMTPS_PORT" "$OAUTH2_PORT" "$CCERT_PORT" "$SEVENBIT_PORT"; do wait_port "$p" "postfix"; done
        return 0
    fi
    local p
    for p in "$PLAIN_PORT" "$SUBM_PORT" "$SMTPS_PORT" "$OAUTH2_PORT" "$CCERT_PORT" "$SEVENBIT_PORT"; do
        port_listening "$p" && die "port $p is busy (not our postfix)"
    done
    /usr/sbin/postfix -c "$CONF" set-permissions >>"$LOGD/postfix-cmd.log" 2>&1 </dev/null 8>&- 9>&- || true
    /usr/sbin/postfix -c "$CONF" check >>"$LOGD/postfix-cmd.log" 2>&1 </dev/null 8>&- 9>&- || die "postfix check failed, see $LOGD/postfix-cmd.log"
    /usr/sbin/postfix -c "$CONF" start >>"$LOGD/postfix-cmd.log" 2>&1 </dev/null 8>&- 9>&- || die "postfix start failed, see $LOGD/postfix-cmd.log and $LOGD/maillog"
    for p in "$PLAIN_PORT" "$SUBM_PORT" "$SMTPS_PORT" "$OAUTH2_PORT" "$CCERT_PORT" "$SEVENBIT_PORT"; do wait_port "$p" "postfix"; done
    log "postfix started (pid $(tr -dc 0-9 < "$PF_PID")), config $CONF"
}

do_start_locked() {
    mkdir -p "$BASE" "$LOGD" "$RUND"
    ensure_packages "$BASE/apt.log" "${WANT[@]}"
    write_tls
    write_client_cert
    write_dovecot
    write_dovecot_oauth2
    write_postfix
    start_sink
    start_dovecot
    start_postfix
    is_ready || die "not everything came up; run: $0 status"
    log "ready: plain 127.0.0.1:$PLAIN_PORT, 7-bit ASCII-only 127.0.0.1:$SEVENBIT_PORT, submission+STARTTLS 127.0.0.1:$SUBM_PORT, implicit TLS 127.0.0.1:$SMTPS_PORT, OAuth2 submission 127.0.0.1:$OAUTH2_PORT (introspection $OAUTH2_INTROSPECT_URL), sink $SINK_DIR"
}

do_stop() {
    if pid="$(pid_alive "$PF_PID" master)"; then
        log "stopping postfix (pid $pid)"
        /usr/sbin/postfix -c "$CONF" stop >>"$LOGD/postfix-cmd.log" 2>&1 </dev/null 8>&- 9>&- || true

        for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        stop_pid "$PF_PID" master postfix   # no-op if it is gone
    fi
    stop_pid "$DOVE2_PID" dovecot-oauth2 dovecot-oauth2
    stop_pid "$DOVE_PID" dovecot dovecot
    stop_pid "$SINK_PID" smtp-file-sink sink
    return 0
}

do_status() {
    local rc=0 pid
    if pid="$(pid_alive "$PF_PID" master)"; then echo "postfix : running (pid $pid) config $CONF"; else echo "postfix : stopped"; rc=3; fi
    if pid="$(pid_alive "$DOVE_PID" dovecot)"; then echo "dovecot : running (pid $pid) config $DOVE/dovecot.conf"; else echo "dovecot : stopped"; rc=3; fi
    if pid="$(pid_alive "$DOVE2_PID" dovecot-oauth2)"; then echo "dovecot-oauth2: running (pid $pid) config $DOVE2/dovecot.conf, introspection $OAUTH2_INTROSPECT_URL"; else echo "dovecot-oauth2: stopped"; rc=3; fi
    if pid="$(pid_alive "$SINK_PID" smtp-file-sink)"; then echo "sink    : running (pid $pid) dir $SINK_DIR"; else echo "sink    : stopped"; rc=3; fi
    local p
    for p in "$PLAIN_PORT" "$SUBM_PORT" "$SMTPS_PORT" "$OAUTH2_PORT" "$CCERT_PORT" "$SEVENBIT_PORT" "$SINK_PORT"; do
        if port_listening "$p"; then echo "port $p: listening"; else echo "port $p: closed"; fi
    done
    if [ -d "$SINK_DIR" ]; then
        echo "sink    : $(find "$SINK_DIR" -maxdepth 1 -name '*.eml' | wc -l) message(s) in $SINK_DIR"
    fi
    return $rc
}

do_clear() {
    if [ -d "$SINK_DIR" ]; then
        find "$SINK_DIR" -maxdepth 1 -type f \( -name '*.eml' -o -name '*.json' -o -name '.tmp.*' \) -delete
    fi
    if pid_alive "$PF_PID" master >/dev/null; then
        /usr/sbin/postsuper -c "$CONF" -d ALL >/dev/null 2>&1 || true
    fi
    # restart numbering at 1 (SIGHUP makes the sink re-read its directory)
    if pid="$(pid_alive "$SINK_PID" smtp-file-sink)"; then
        kill -HUP "$pid"
    fi
    log "sink dir and queue cleared"
}

do_env() {
    cat <<EOF
export HARNESS_UPSTREAM_HOST=127.0.0.1
export HARNESS_PLAIN_PORT=$PLAIN_PORT
export HARNESS_SUBMISSION_PORT=$SUBM_PORT
export HARNESS_SMTPS_PORT=$SMTPS_PORT
export HARNESS_OAUTH2_PORT=$OAUTH2_PORT
export HARNESS_OAUTH2_INTROSPECT_URL=$OAUTH2_INTROSPECT_URL
export HARNESS_CCERT_PORT=$CCERT_PORT
export HARNESS_7BIT_PORT=$SEVENBIT_PORT
export HARNESS_CLIENT_CERT=$TLSD/client-cert.pem
export HARNESS_CLIENT_KEY=$TLSD/client-key.pem
export HARNESS_SINK_PORT=$SINK_PORT
export HARNESS_SINK_DIR=$SINK_DIR
export HARNESS_SASL_USER=$SASL_USER
export HARNESS_SASL_PASS=$SASL_PASS
export HARNESS_CA_CERT=$TLSD/cert.pem
export HARNESS_MAILLOG=$LOGD/maillog
export HARNESS_POSTFIX_DIR=$BASE
export HARNESS_SCRIPTS_DIR=$HERE
EOF
}

cmd="${1:-}"
case "$cmd" in
    start)   do_start ;;
    stop)    take_lock; do_stop ;;
    restart) take_lock; do_stop; do_start_locked ;;
    status)  do_status ;;
    clear)   take_lock; do_clear ;;
    queue)   /usr/sbin/postqueue -c "$CONF" -p ;;
    flush)   /usr/sbin/postqueue -c "$CONF" -f ;;
    logs)    tail -n "${2:-40}" "$LOGD/maillog" "$LOGD/dovecot.log" "$LOGD/dovecot-oauth2.log" "$LOGD/sink.log" 2>/dev/null ;;
    env)     if [ "${2:-}" = --plain ]; then do_env | sed 's/^export //'; else do_env; fi ;;
    ready)   is_ready || exit 3 ;;
    *) echo "usage: $0 start|stop|restart|status|ready|clear|queue|flush|logs [N]|env [--plain]" >&2; exit 2 ;;
esac
