#!/usr/bin/env bash
# Writes packaging/deb/smarthost.toml, the conffile /etc/smarthost/smarthost.toml: the reference
# configuration conf/smarthost.toml with the spool and the try-it outbox under /var/lib/smarthost
# (the unit's StateDirectory). `make-config.sh --check` fails when the committed copy is stale.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
generate() {
  sed -e 's|^dir = "spool"$|dir = "/var/lib/smarthost/spool"|' \
      -e 's|^dir = "outbox"$|dir = "/var/lib/smarthost/outbox"|' \
      -e 's|written to \./outbox/|written to /var/lib/smarthost/outbox/|' \
      "$root/conf/smarthost.toml"
}
if [ "${1:-}" = --check ]; then
  diff -u "$here/smarthost.toml" <(generate) || { echo "packaging/deb/smarthost.toml is stale: run $0" >&2; exit 1; }
else
  generate >"$here/smarthost.toml"
fi
