#!/usr/bin/env bash
# verify-upstream.sh — prove the upstream harness behaves as specified, with
# swaks (and a raw socket for the one thing swaks will not do).  Starts the
# harness if it is not running (and then stops it again at the end unless
# KEEP_RUNNING=1).  Transcripts go to $HARNESS_POSTFIX_DIR/verify/.
# Exit 0 only if every check passed; last line is "N passed, N failed".
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE="${HARNESS_POSTFIX_DIR:-/tmp/harness-postfix}"
SINK_DIR="${HARNESS_SINK_DIR:-/tmp/harness-sink}"
H=127.0.0.1
PLAIN="${HARNESS_PLAIN_PORT:-2025}"
SUBM="${HARNESS_SUBMISSION_PORT:-2587}"
SMTPS="${HARNESS_SMTPS_PORT:-2465}"
OAUTH2="${HARNESS_OAUTH2_PORT:-2589}"
CCERT="${HARNESS_CCERT_PORT:-2590}"
SEVENBIT="${HARNESS_7BIT_PORT:-2591}"
INTROSPECT_URL="${HARNESS_OAUTH2_INTROSPECT_URL:-http://127.0.0.1:2980/introspect}"
INTROSPECT_PORT="$(printf '%s' "$INTROSPECT_URL" | sed -E 's#^https?://[^/]*:([0-9]+)/.*#\1#')"
U="${HARNESS_SASL_USER:-relay@example.test}"
P="${HARNESS_SASL_PASS:-secret}"
OUT="$BASE/verify"
PASS=0; FAIL=0; N=0

started_here=0
if ! "$HERE/upstream-postfix.sh" ready >/dev/null 2>&1; then
    "$HERE/upstream-postfix.sh" start || exit 1
    started_here=1
fi
mkdir -p "$OUT"
rm -f "$OUT"/*.txt

ok()   { PASS=$((PASS+1)); printf 'PASS  %-58s %s\n' "$1" "$2"; }
bad()  { FAIL=$((FAIL+1)); printf 'FAIL  %-58s %s\n' "$1" "$2"; }
sink_count() { find "$SINK_DIR" -maxdepth 1 -name '[0-9]*.eml' 2>/dev/null | wc -l; }

# find the sink file whose Subject is $1 (waits up to 10 s for delivery)
sink_file_for() {
    local subj="$1" f
    for _ in $(seq 1 100); do
        f="$(grep -l -E "^Subject: ${subj}"$'\r'"?\$" "$SINK_DIR"/[0-9]*.eml 2>/dev/null | head -1 || true)"
        [ -n "$f" ] && { echo "$f"; return 0; }
        sleep 0.1
    done
    return 1
}

# case NAME EXPECT_RC "grep -E pattern in transcript" [SINK_PATTERN|-] -- command...
# SINK_PATTERN (a grep -E pattern, several joined with '&&') must match the
# delivered .eml found by its Subject; '-' means the message must NOT arrive.
run_case() {
    local name="$1" want_rc="$2" pat="$3" sinkpat="$4"; shift 5
    N=$((N+1))
    local t; t="$(printf '%s/%02d-%s.txt' "$OUT" "$N" "$name")"
    "$@" >"$t" 2>&1; local rc=$?
    local why=""
    [ "$rc" = "$want_rc" ] || why="exit $rc, wanted $want_rc; "
    grep -qE -- "$pat" "$t" || why="${why}transcript lacks /$pat/; "
    if [ -n "$sinkpat" ]; then
        local subj f
        subj="$(grep -oE 'harness-verify-[0-9]+-[a-z0-9-]+' "$t" | head -1)"
        if [ "$sinkpat" = "-" ]; then
            sleep 1
            if [ -n "$subj" ] && grep -q -E "^Subject: ${subj}"$'\r'"?\$" "$SINK_DIR"/[0-9]*.eml 2>/dev/null; then
                why="${why}message reached the sink but should not; "
            fi
        elif ! f="$(sink_file_for "$subj")"; then
            why="${why}message '$subj' never reached the sink; "
        else
            local p IFS_old="$IFS"; IFS=$'\n'
            for p in $(printf '%s\n' "$sinkpat" | sed 's/&&/\n/g'); do
                grep -qE -- "$p" "$f" || why="${why}$(basename "$f") lacks /$p/; "
            done
            IFS="$IFS_old"
            echo "--- delivered as $f" >>"$t"
        fi
    fi
    local evidence; evidence="$(grep -E -- "$pat" "$t" | head -1 | sed 's/^[ <>~*-]*//' | cut -c1-70)"
    if [ -z "$why" ]; then ok "$name" "[$evidence]"; else bad "$name" "$why(see $t)"; fi
}

subj() { echo "harness-verify-$$-$1"; }
SW=(swaks --server "$H" --from "$U" --timeout 20)

echo "== AUTH over STARTTLS on $SUBM and over implicit TLS on $SMTPS"
for mech in PLAIN LOGIN CRAM-MD5; do
    m="$(echo "$mech" | tr 'A-Z' 'a-z')"
    s="$(subj "starttls-$m")"
    run_case "submission-$SUBM-starttls-auth-$mech" 0 '235 2\.7\.0 Authentication successful' \
        "Authenticated sender: $U&&using TLSv1\.[23]&&with ESMTPSA" -- \
        "${SW[@]}" --port "$SUBM" -tls --auth "$mech" --auth-user "$U" --auth-password "$P" \
        --to "starttls-$m@example.net" --h-Subject "$s"
    s="$(subj "implicit-$m")"
    run_case "smtps-$SMTPS-implicit-tls-auth-$mech" 0 '235 2\.7\.0 Authentication successful' \
        "Authenticated sender: $U&&using TLSv1\.[23]&&with ESMTPSA" -- \
        "${SW[@]}" --port "$SMTPS" --tls-on-connect --auth "$mech" --auth-user "$U" --auth-password "$P" \
        --to "implicit-$m@example.net" --h-Subject "$s"
done

echo "== bad password -> 535"
for mech in PLAIN LOGIN CRAM-MD5; do
    m="$(echo "$mech" | tr 'A-Z' 'a-z')"
    run_case "submission-$SUBM-bad-password-$mech" 28 '^<\S* +535 5\.7\.8' - -- \
        "${SW[@]}" --port "$SUBM" -tls --auth "$mech" --auth-user "$U" --auth-password wrong \
        --to "badpw-$m@example.net" --h-Subject "$(subj "badpw-$m")"
done
run_case "smtps-$SMTPS-bad-password-CRAM-MD5" 28 '^<\S* +535 5\.7\.8' - -- \
    "${SW[@]}" --port "$SMTPS" --tls-on-connect --auth CRAM-MD5 --auth-user "$U" --auth-password wrong \
    --to badpw-smtps@example.net --h-Subject "$(subj badpw-smtps)"

echo "== plaintext AUTH / mail on $SUBM before STARTTLS is refused"
# swaks refuses on the client side because AUTH is not even advertised pre-TLS
run_case "submission-$SUBM-no-AUTH-advertised-before-STARTTLS" 28 'Host did not advertise authentication' - -- \
    "${SW[@]}" --port "$SUBM" --auth PLAIN --auth-user "$U" --auth-password "$P" \
    --to pretls@example.net --h-Subject "$(subj pretls-swaks)"
# the server side: send AUTH PLAIN anyway on the plaintext channel
run_case "submission-$SUBM-raw-AUTH-PLAIN-before-STARTTLS" 0 '^<- 530 5\.7\.0 Must issue a STARTTLS command first' '' -- \
    /usr/bin/python3 - "$H" "$SUBM" "$U" "$P" <<'EOF'
import base64, socket, sys
h, port, u, p = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((h, port), timeout=10); f = s.makefile("rb")
def rd():
    while True:
        l = f.readline().decode().rstrip(); print("<- " + l)
        if len(l) < 4 or l[3] != "-": return l
def cmd(c, show=None):
    print("-> " + (show or c)); s.sendall((c + "\r\n").encode()); return rd()
rd(); cmd("EHLO client.harness.test")
r = cmd("AUTH PLAIN " + base64.b64encode(("\0%s\0%s" % (u, p)).encode()).decode())
cmd("QUIT")
sys.exit(0 if r.startswith("530") else 1)
EOF
run_case "submission-$SUBM-MAIL-before-STARTTLS" 23 '^<\S* +530 5\.7\.0 Must issue a STARTTLS command first' - -- \
    "${SW[@]}" --port "$SUBM" --to pretls@example.net --h-Subject "$(subj pretls-mail)"

echo "== TLS but no AUTH on $SUBM / $SMTPS -> rejected"
run_case "submission-$SUBM-starttls-without-auth" 24 '^<\S* +554 5\.7\.1 .*Access denied' - -- \
    "${SW[@]}" --port "$SUBM" -tls --to noauth@example.net --h-Subject "$(subj noauth-subm)"
run_case "smtps-$SMTPS-tls-without-auth" 24 '^<\S* +554 5\.7\.1 .*Access denied' - -- \
    "${SW[@]}" --port "$SMTPS" --tls-on-connect --to noauth@example.net --h-Subject "$(subj noauth-smtps)"

echo "== plain port $PLAIN: no TLS, no AUTH, relays for loopback"
run_case "plain-$PLAIN-no-auth-accepted" 0 '^<- +250 2\.0\.0 Ok: queued' \
    'with ESMTP id&&^To: plain@example.net' -- \
    "${SW[@]}" --port "$PLAIN" --to plain@example.net --h-Subject "$(subj plain)"
run_case "plain-$PLAIN-advertises-no-AUTH-no-STARTTLS" 0 '^<- +250 CHUNKING' '' -- \
    bash -c "${SW[*]} --port $PLAIN --quit-after EHLO --to x@example.net > $OUT/ehlo-plain.raw 2>&1; cat $OUT/ehlo-plain.raw; ! grep -qE '250.(AUTH|STARTTLS)' $OUT/ehlo-plain.raw"

echo "== DSN (NOTIFY=SUCCESS) accepted and passed on"
# Debian's swaks 20201014 has no --dsn-* options; swaks sends 'RCPT TO:<$to>'
# verbatim, so parameters can be smuggled into --to.  The closing '>' swaks
# appends is absorbed by a last ORCPT=rfc822;<addr parameter.
s="$(subj dsn-swaks)"
run_case "submission-$SUBM-swaks-RCPT-NOTIFY=SUCCESS" 0 '^ ~> RCPT TO:<dsn-swaks@example.net> NOTIFY=SUCCESS' \
    'X-Sink-Rcpt-To: <dsn-swaks@example.net> .*NOTIFY=SUCCESS' -- \
    "${SW[@]}" --port "$SUBM" -tls --auth PLAIN --auth-user "$U" --auth-password "$P" \
    --to 'dsn-swaks@example.net> NOTIFY=SUCCESS ORCPT=rfc822;<dsn-swaks@example.net' \
    --h-To '<dsn-swaks@example.net>' --h-Subject "$s"
# the clean way: exact RET/ENVID/NOTIFY/ORCPT via smtplib
s="$(subj dsn-smtplib)"
run_case "submission-$SUBM-smtplib-RET-ENVID-NOTIFY-ORCPT" 0 "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;dsn-py@example.net" \
    'X-Sink-Mail-From: <relay@example\.test> .*ENVID=harness-envid-1&&X-Sink-Mail-From: .*RET=HDRS&&X-Sink-Rcpt-To: <dsn-py@example.net> ORCPT=rfc822;dsn-py@example.net NOTIFY=SUCCESS,FAILURE' -- \
    /usr/bin/python3 "$HERE/smtp-send.py" --host "$H" --port "$SUBM" --starttls --auth CRAM-MD5 \
    --user "$U" --password "$P" --to dsn-py@example.net --notify SUCCESS,FAILURE --orcpt \
    --ret HDRS --envid harness-envid-1 --subject "$s"

echo "== fault injection by recipient local part"
run_case "plain-$PLAIN-reject-prefix-550" 24 '^<\S* +550 5\.1\.1' - -- \
    "${SW[@]}" --port "$PLAIN" --to reject-me@example.net --h-Subject "$(subj reject)"
run_case "plain-$PLAIN-tempfail-prefix-451" 24 '^<\S* +451 4\.3\.0' - -- \
    "${SW[@]}" --port "$PLAIN" --to tempfail-me@example.net --h-Subject "$(subj tempfail)"

echo "== client-certificate port $CCERT: relays only for the harness client certificate"
run_case "ccert-$CCERT-with-client-certificate-relayed" 0 '^<~ +250 2\.0\.0 Ok: queued' \
    'Client CN "relay\.harness\.test"' -- \
    "${SW[@]}" --port "$CCERT" -tls --tls-cert "$BASE/tls/client-cert.pem" --tls-key "$BASE/tls/client-key.pem" \
    --to ccert@example.net --h-Subject "$(subj ccert)"
run_case "ccert-$CCERT-without-client-certificate-554-relay-denied" 24 '^<\S* +554 5\.7\.1 .*Relay access denied' - -- \
    "${SW[@]}" --port "$CCERT" -tls --to noccert@example.net --h-Subject "$(subj noccert)"

echo "== 7-bit port $SEVENBIT: no 8BITMIME, no SMTPUTF8, relays for loopback"
run_case "sevenbit-$SEVENBIT-advertises-no-8BITMIME-no-SMTPUTF8" 0 '^<- +250 CHUNKING' '' -- \
    bash -c "${SW[*]} --port $SEVENBIT --quit-after EHLO --to x@example.net > $OUT/ehlo-sevenbit.raw 2>&1; cat $OUT/ehlo-sevenbit.raw; ! grep -qE '250.(8BITMIME|SMTPUTF8)' $OUT/ehlo-sevenbit.raw"
run_case "sevenbit-$SEVENBIT-ascii-mail-accepted" 0 '^<- +250 2\.0\.0 Ok: queued' \
    "$(subj sevenbit)" -- \
    "${SW[@]}" --port "$SEVENBIT" --to sevenbit@example.net --h-Subject "$(subj sevenbit)"

echo "== OAuth2 port $OAUTH2: XOAUTH2/OAUTHBEARER checked by introspection (demo server on 127.0.0.1:$INTROSPECT_PORT)"
# oauth2-introspect-demo.py plays the tests' introspection server; started and stopped here by PID
DEMO=(/usr/bin/python3 "$HERE/oauth2-introspect-demo.py")
CHECK=("${DEMO[@]}" --smtp-port "$OAUTH2" --cafile "$BASE/tls/cert.pem" --subject "harness-verify-$$-oauth2" --check)
demo_pid=""
if ss -Hltn "sport = :$INTROSPECT_PORT" | grep -q .; then
    N=$((N+1)); bad "oauth2-demo-introspection-server" "port $INTROSPECT_PORT is busy (a test's server?); OAuth2 checks skipped"
else
    "${DEMO[@]}" --port "$INTROSPECT_PORT" --log "$OUT/oauth2-introspection-requests.jsonl" >"$OUT/oauth2-demo.log" 2>&1 </dev/null &
    demo_pid=$!
    for _ in $(seq 1 50); do ss -Hltn "sport = :$INTROSPECT_PORT" | grep -q . && break; sleep 0.1; done
    run_case "oauth2-$OAUTH2-only-XOAUTH2-OAUTHBEARER-after-STARTTLS" 0 '^ +<- 250-AUTH XOAUTH2 OAUTHBEARER$' '' -- \
        "${CHECK[@]}" xoauth2-inactive
    run_case "oauth2-$OAUTH2-XOAUTH2-good-token" 0 '^ +<- 235 2\.7\.0 Authentication successful' \
        "Authenticated sender: $U&&with ESMTPSA" -- "${CHECK[@]}" xoauth2-good
    run_case "oauth2-$OAUTH2-OAUTHBEARER-good-token" 0 '^ +<- 235 2\.7\.0 Authentication successful' \
        "Authenticated sender: $U&&with ESMTPSA" -- "${CHECK[@]}" oauthbearer-good
    run_case "oauth2-$OAUTH2-XOAUTH2-inactive-token-334-then-535" 0 '^PASS .*334 \{"status":"401","schemes":"bearer","scope":"mail"\} / 535' '' -- \
        "${CHECK[@]}" xoauth2-inactive
    run_case "oauth2-$OAUTH2-OAUTHBEARER-inactive-token-334-then-535" 0 '^PASS .*334 \{"status":"invalid_token"\} / 535' '' -- \
        "${CHECK[@]}" oauthbearer-inactive
    run_case "oauth2-$OAUTH2-token-of-other-user-535" 0 '^PASS ' '' -- "${CHECK[@]}" xoauth2-other-user
    run_case "oauth2-$OAUTH2-introspection-HTTP-500-535" 0 '^PASS ' '' -- "${CHECK[@]}" xoauth2-http500
    kill "$demo_pid" 2>/dev/null; wait "$demo_pid" 2>/dev/null
    run_case "oauth2-$OAUTH2-no-introspection-server-535" 1 '^ +<- 535 5\.7\.8' '' -- "${CHECK[@]}" xoauth2-good
fi

echo
echo "transcripts: $OUT/"
if [ "$started_here" = 1 ] && [ "${KEEP_RUNNING:-0}" != 1 ]; then
    "$HERE/upstream-postfix.sh" stop
fi
echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
