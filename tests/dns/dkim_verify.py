#!/usr/bin/python3
"""dkim_verify.py -- verify every DKIM-Signature of an RFC 5322 message.

An independent check (dkimpy, not smarthost's own code) for the DKIM tests.
Public keys are fetched with dnspython from the test DNS server
(tests/dns/test-dns.sh, 127.0.0.1:5353), never from the system resolver.

usage: dkim_verify.py [--dns HOST:PORT] FILE|-

Prints one line per signature, top to bottom:
    d=<domain> s=<selector> a=<algorithm> result=pass|fail
and, for a failure, the reason on stderr.  Exit status: 0 if the message has
at least one signature and every one passes, 1 otherwise, 2 on a usage error.

Needs Debian's python3-dkim, python3-dnspython and python3-nacl (ed25519);
the shebang names /usr/bin/python3 so a pyenv/venv python3 on PATH, which
would not see them, is not used.
"""
import argparse
import logging
import sys

import dkim
import dkim.util
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype


def make_dnsfunc(host: str, port: int):
    """A dkimpy dnsfunc: name (bytes or str) -> the TXT record's strings
    joined, as bytes; None when the name has no TXT record."""

    def get_txt(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        query = dns.message.make_query(name, dns.rdatatype.TXT)
        try:
            resp = dns.query.udp(query, host, port=port, timeout=timeout)
            if resp.flags & dns.flags.TC:
                resp = dns.query.tcp(query, host, port=port, timeout=timeout)
        except dns.exception.Timeout as e:
            raise dkim.DnsTimeoutError(f"DNS timeout for {name} at {host}:{port}: {e}")
        except OSError as e:
            raise dkim.DnsTimeoutError(f"DNS error for {name} at {host}:{port}: {e}")
        if resp.rcode() != dns.rcode.NOERROR:
            if resp.rcode() == dns.rcode.NXDOMAIN:
                return None
            raise dkim.DnsTimeoutError(f"DNS {dns.rcode.to_text(resp.rcode())} for {name}")
        records = [b"".join(rd.strings)
                   for rrset in resp.answer if rrset.rdtype == dns.rdatatype.TXT
                   for rd in rrset]
        if not records:
            return None
        # more than one TXT record at a selector: prefer a DKIM key record
        keys = [r for r in records if r.lstrip().startswith(b"v=DKIM1")]
        return (keys or records)[0]

    return get_txt


class Collect(logging.Handler):
    """Keeps dkimpy's error messages (it logs why a key lookup failed and
    returns False instead of raising)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def tag(fields, name: bytes) -> str:
    value = fields.get(name)
    return value.decode("ascii", "replace") if value is not None else "?"


def main(argv) -> int:
    ap = argparse.ArgumentParser(
        prog="dkim_verify.py",
        description="Verify every DKIM-Signature of an RFC 5322 message against the test DNS.")
    ap.add_argument("file", metavar="FILE|-", help="the message (- for standard input)")
    ap.add_argument("--dns", default="127.0.0.1:5353", metavar="HOST:PORT",
                    help="DNS server for the key records (default 127.0.0.1:5353)")
    args = ap.parse_args(argv)  # exits 2 on a usage error

    host, sep, port = args.dns.rpartition(":")
    if not sep or not host or not port.isdigit():
        ap.error(f"--dns wants HOST:PORT, got {args.dns!r}")
    try:
        if args.file == "-":
            message = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as f:
                message = f.read()
    except OSError as e:
        print(f"dkim_verify.py: {e}", file=sys.stderr)
        return 2

    dnsfunc = make_dnsfunc(host, int(port))
    try:
        headers = dkim.DKIM(message).headers
    except dkim.DKIMException as e:
        print(f"dkim_verify.py: cannot parse the message: {e}", file=sys.stderr)
        return 1
    sigs = [value for name, value in headers if name.lower() == b"dkim-signature"]
    if not sigs:
        print("no DKIM-Signature", file=sys.stderr)
        return 1

    all_pass = True
    for idx, value in enumerate(sigs):
        try:
            fields = dkim.util.parse_tag_value(value)
        except Exception:  # noqa: BLE001 -- reported as a failed signature below
            fields = {}
        reason = ""
        errors = Collect()
        logger = logging.getLogger(f"dkim_verify.{idx}")
        logger.propagate = False
        logger.addHandler(errors)
        try:
            # a fresh DKIM object per signature: verify() keeps state
            ok = dkim.DKIM(message, logger=logger).verify(idx=idx, dnsfunc=dnsfunc)
            if not ok:
                reason = "; ".join(errors.messages) or "signature does not match"
        except dkim.DKIMException as e:
            ok = False
            reason = f"{type(e).__name__}: {e}"
        all_pass = all_pass and ok
        print(f"d={tag(fields, b'd')} s={tag(fields, b's')} a={tag(fields, b'a')} "
              f"result={'pass' if ok else 'fail'}", flush=True)
        if not ok:
            print(f"  signature {idx + 1}: {reason}", file=sys.stderr, flush=True)
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
