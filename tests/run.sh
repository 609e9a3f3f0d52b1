#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what the tests need, starts the real
# Postfix + Dovecot upstream (tests/harness/), the test DNS server for SPF/DKIM (tests/dns/) and a
# redis-server for the shared limits of several relays (tests/redis/),
# runs cargo test, and stops each of them again if this script started it. Run as root (apt-get,
# the private Postfix instance and the DNS query log need it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

started_here=0
dns_started_here=0
redis_started_here=0
stop() {
  [ "$started_here" = 1 ] && tests/harness/upstream-postfix.sh stop >/dev/null 2>&1 || true
  [ "$dns_started_here" = 1 ] && tests/dns/test-dns.sh stop >/dev/null 2>&1 || true
  [ "$redis_started_here" = 1 ] && tests/redis/test-redis.sh stop >/dev/null 2>&1 || true
}
trap stop EXIT

if ! tests/harness/upstream-postfix.sh ready; then
  # Installs postfix, dovecot-core, swaks, curl and openssl with apt-get when missing, without ever
  # starting the system postfix/dovecot services.
  tests/harness/upstream-postfix.sh start
  started_here=1
fi
if ! tests/dns/test-dns.sh ready; then
  # dnsmasq on 127.0.0.1:5353 with tests/dns/zones.conf and a never-answering black hole on
  # 127.0.0.1:5399; installs dnsmasq-base, python3-dkim, python3-dnspython and python3-nacl
  # with apt-get when missing.
  tests/dns/test-dns.sh start
  dns_started_here=1
fi

if ! tests/redis/test-redis.sh ready; then
  # redis-server on 127.0.0.1:6390 for the shared-limits tests (tests/cluster.rs); installs the
  # redis-server package when missing, without starting the system's own service.
  tests/redis/test-redis.sh start
  redis_started_here=1
fi

cargo test --all-targets "$@"

# The operator console in a real browser: Debian's chromium driven by playwright-core (npm, from
# the committed lock file), against the binary the cargo tests just built.
. tests/lib/packages.sh
log() { printf '[run] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
ensure_packages /tmp/smarthost-browser-apt.log chromium
# Some machines bring node with its own npm (NodeSource); Debian's come as two packages.
command -v npm >/dev/null 2>&1 || ensure_packages /tmp/smarthost-browser-apt.log nodejs npm
(cd tests/browser && npm ci --no-audit --no-fund >/dev/null && \
  SMARTHOST_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/smarthost" npm test)
