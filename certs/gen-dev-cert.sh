#!/usr/bin/env bash
# Self-signed development certificate for the listener: certs/server.crt + certs/server.key.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${1:-smarthost.local}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
  -subj "/CN=$name" -addext "subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1" \
  -addext "basicConstraints=critical,CA:FALSE" \
  -keyout "$here/server.key" -out "$here/server.crt" 2>/dev/null
chmod 600 "$here/server.key"
echo "wrote $here/server.crt and $here/server.key for $name"
