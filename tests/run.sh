#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs what the tests need, starts the real
# Postfix + Dovecot upstream (tests/harness/), runs cargo test, and stops the upstream again if
# this script started it. Run as root (apt-get and the private Postfix instance need it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

started_here=0
if ! tests/harness/upstream-postfix.sh ready; then
  # Installs postfix, dovecot-core, swaks and openssl with apt-get when missing, without ever
  # starting the system postfix/dovecot services.
  tests/harness/upstream-postfix.sh start
  started_here=1
fi
stop() { [ "$started_here" = 1 ] && tests/harness/upstream-postfix.sh stop >/dev/null 2>&1 || true; }
trap stop EXIT

cargo test --all-targets "$@"
