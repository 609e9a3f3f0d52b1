#!/usr/bin/env python3
"""oauth2-introspect-demo.py -- a MANUAL-CHECK stand-in for the token
introspection server that smarthost's tests run in-process.

It is NOT used by the Rust tests (they start their own server on the same
fixed port, so do not leave this running while they run).  verify-upstream.sh
uses it for its OAuth2 checks, and a person can see port 2589 work end to end:

    tests/harness/oauth2-introspect-demo.py &          # serves 127.0.0.1:2980
    tests/harness/oauth2-introspect-demo.py --check     # all SMTP cases below
    tests/harness/oauth2-introspect-demo.py --check xoauth2-good oauthbearer-inactive
    kill %1

The harness's second dovecot ("dovecot-oauth2", see upstream-postfix.sh and
README "OAuth2 port 2589") sends, for every AUTH XOAUTH2/OAUTHBEARER on 2589,
exactly this (recorded from dovecot 2.3.19.1; header order as sent):

    POST /introspect HTTP/1.1
    Host: 127.0.0.1:2980
    Date: Tue, 24 Nov 2026 20:19:31 GMT
    User-Agent: dovecot-oauth2-passdb/2.3.19.1
    Content-Length: 42
    Connection: Keep-Alive
    Content-Type: application/x-www-form-urlencoded

    token=good-token&client_id=&client_secret=

and accepts the token when the answer is HTTP 2xx with a JSON object whose
"username" equals the SASL user and whose "active" is true.

Tokens this demo knows (everything else -> 200 {"active": false}):
    good-token        200 {"active": true, "username": "relay@example.test", ...}
    other-user-token  200 {"active": true, "username": "someone@example.test"}
    no-active-token   200 {"username": "relay@example.test"}   (active missing)
    http401-token     401 {"error": "invalid_token"}
    http500-token     500 (not JSON)
    badjson-token     200 "this is not json"
    slow-token        sleeps --slow seconds, then answers like good-token
Every request is printed (method, path, headers, body) as one JSON line on
stdout, or appended to --log.  Python stdlib only.
"""
import argparse
import base64
import json
import socket
import ssl
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USER = "relay@example.test"
ARGS = None


def answer(token):
    """(status, body bytes) for a token."""
    good = {"active": True, "username": USER, "scope": "mail", "token_type": "Bearer",
            "client_id": "smarthost-test", "exp": int(time.time()) + 3600}
    if token == "good-token":
        return 200, json.dumps(good)
    if token == "slow-token":
        time.sleep(ARGS.slow)
        return 200, json.dumps(good)
    if token == "other-user-token":
        return 200, json.dumps({"active": True, "username": "someone@example.test"})
    if token == "no-active-token":
        return 200, json.dumps({"username": USER})
    if token == "http401-token":
        return 401, json.dumps({"error": "invalid_token"})
    if token == "http500-token":
        return 500, "internal error"
    if token == "badjson-token":
        return 200, "this is not json"
    return 200, json.dumps({"active": False})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):  # quiet: we print our own record
        pass

    def _record(self, body):
        rec = {"time": time.strftime("%H:%M:%S"), "method": self.command, "path": self.path,
               "version": self.request_version, "headers": list(self.headers.items()),
               "body": body.decode("latin-1")}
        line = json.dumps(rec)
        if ARGS.log:
            with open(ARGS.log, "a") as f:
                f.write(line + "\n")
        else:
            print(line, flush=True)

    def _reply(self, status, text, ctype="application/json"):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        self._record(body)
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        token = (form.get("token") or [""])[0]
        status, text = answer(token)
        ctype = "application/json" if text[:1] in "{[" else "text/plain"
        self._reply(status, text, ctype)

    def do_GET(self):
        self._record(b"")
        self._reply(405, json.dumps({"error": "use POST"}))


# ------------------------------------------------------------------ --check
XO_CHALLENGE = '{"status":"401","schemes":"bearer","scope":"mail"}'
OB_CHALLENGE = '{"status":"invalid_token"}'

# name: (mechanism, token, wanted final code, wanted 334 challenge or None, send a mail)
CASES = {
    "xoauth2-good":           ("XOAUTH2", "good-token", "235", None, True),
    "oauthbearer-good":       ("OAUTHBEARER", "good-token", "235", None, True),
    "xoauth2-inactive":       ("XOAUTH2", "bad-token", "535", XO_CHALLENGE, False),
    "oauthbearer-inactive":   ("OAUTHBEARER", "bad-token", "535", OB_CHALLENGE, False),
    "xoauth2-other-user":     ("XOAUTH2", "other-user-token", "535", XO_CHALLENGE, False),
    "oauthbearer-other-user": ("OAUTHBEARER", "other-user-token", "535", OB_CHALLENGE, False),
    # Dovecot 2.3.19 quirk: an answer WITHOUT "active" is accepted (active=false is not)
    "xoauth2-no-active":      ("XOAUTH2", "no-active-token", "235", None, False),
    # introspection errors are "internal failures": 535 at once, no 334 challenge, not 454
    "xoauth2-http401":        ("XOAUTH2", "http401-token", "535", None, False),
    "xoauth2-http500":        ("XOAUTH2", "http500-token", "535", None, False),
    "oauthbearer-http500":    ("OAUTHBEARER", "http500-token", "535", None, False),
    "xoauth2-bad-json":       ("XOAUTH2", "badjson-token", "535", None, False),
}


def smtp_session(host, port, cafile, name, mech, token, want, want_chal, send_mail, subject):
    """One SMTP session: STARTTLS, AUTH with initial response, answer a 334
    challenge with an empty line, optionally send one message.  Prints the
    transcript; returns True if the outcome is as wanted."""
    s = socket.create_connection((host, port), timeout=30)
    f = s.makefile("rb")
    log = []

    def rd():
        while True:
            l = f.readline().decode().rstrip("\r\n")
            log.append("<- " + l)
            if len(l) < 4 or l[3] != "-":
                return l

    def cmd(c):
        log.append("-> " + c.replace("\r\n", "\\r\\n"))
        s.sendall((c + "\r\n").encode())
        return rd()

    rd()
    cmd("EHLO check.harness.test")
    cmd("STARTTLS")
    s = ssl.create_default_context(cafile=cafile).wrap_socket(s, server_hostname="localhost")
    f = s.makefile("rb")
    cmd("EHLO check.harness.test")
    if mech == "XOAUTH2":
        ir = "user=%s\x01auth=Bearer %s\x01\x01" % (USER, token)
    else:
        ir = "n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01" % (USER, host, port, token)
    log.append("   (initial response %r)" % ir)
    t0 = time.time()
    r = cmd("AUTH %s %s" % (mech, base64.b64encode(ir.encode()).decode()))
    chal = None
    if r.startswith("334"):
        chal = base64.b64decode(r[4:]).decode()
        log.append("   (challenge decodes to %s)" % chal)
        r = cmd("")
    log.append("   (AUTH answered after %.3f s)" % (time.time() - t0))
    code = r[:3]
    if send_mail and code == "235":
        rcpt = "oauth2-%s@example.net" % name
        cmd("MAIL FROM:<%s>" % USER)
        cmd("RCPT TO:<%s>" % rcpt)
        cmd("DATA")
        r2 = cmd("Subject: %s\r\nFrom: <%s>\r\nTo: <%s>\r\n\r\nsent after AUTH %s\r\n." % (subject, USER, rcpt, mech))
        if not r2.startswith("250"):
            code = "DATA-" + r2[:3]
    cmd("QUIT")
    s.close()
    ok = code == want and chal == want_chal
    print(("PASS" if ok else "FAIL") + "  %s: %s %s -> %s%s (wanted %s%s)" % (
        name, mech, token, "334 " + chal + " / " if chal else "", code,
        "334 " + want_chal + " / " if want_chal else "", want))
    for l in log:
        print("    " + l)
    return ok


def smtp_check(host, port, cafile, names, subject):
    results = []
    for n in names:
        if n not in CASES:
            sys.exit("unknown case %s; known: %s" % (n, " ".join(CASES)))
        mech, token, want, chal, mail = CASES[n]
        subj = "%s-%s-%d" % (subject, n, time.time_ns()) if mail else ""
        results.append(smtp_session(host, port, cafile, n, mech, token, want, chal, mail, subj))
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    return 0 if all(results) else 1


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=2980)
    ap.add_argument("--log", help="append request records here instead of stdout")
    ap.add_argument("--slow", type=float, default=8.0, help="delay for slow-token (s)")
    ap.add_argument("--check", nargs="*", metavar="CASE",
                    help="do not serve: run these SMTP cases (default all: %s) against port 2589; "
                         "needs this demo serving on 2980" % " ".join(CASES))
    ap.add_argument("--subject", default="oauth2-demo", help="Subject prefix of the mails --check sends")
    ap.add_argument("--smtp-port", type=int, default=2589)
    ap.add_argument("--cafile", default="/tmp/harness-postfix/tls/cert.pem")
    ARGS = ap.parse_args()
    if ARGS.check is not None:
        sys.exit(smtp_check("127.0.0.1", ARGS.smtp_port, ARGS.cafile, ARGS.check or list(CASES), ARGS.subject))
    srv = ThreadingHTTPServer((ARGS.host, ARGS.port), Handler)
    srv.daemon_threads = True
    print("introspection demo on http://%s:%d/introspect" % (ARGS.host, ARGS.port), file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
