#!/usr/bin/env bash
# CI stage "windows" (called from .ci/run unless SMARTHOST_SKIP_WINDOWS=1): cross-builds
# smarthost.exe (packaging/windows-build.sh), runs it under Debian's wine64 8.0 and builds the MSI.
#  - smarthost.exe --version; check-config on the reference configuration;
#  - `smarthost.exe run` with the embedded default: a Linux client (python3 smtplib) sends a mail
#    to 127.0.0.1:2525, the .eml appears in outbox\, Ctrl-C (SIGINT, which Wine delivers as a
#    console Ctrl-C) drains and exits 0;
#  - the same with STARTTLS (the embedded default plus a self-signed certificate);
#  - the MSI with wixl: exe + service (auto start, started at install), reference configuration
#    (NeverOverwrite + Permanent), Start-menu shortcut to http://127.0.0.1:8026/; its tables are
#    printed and checked.
# Wine 8.0 lacks bcryptprimitives.dll: packaging/windows/wine-shim builds a test-only one that is
# put next to the exe in the scratch directory, never into the MSI.
# Never run under Wine: the service control manager commands, the ACLs (icacls), the MSI install.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '\n== windows-check: %s\n' "$*"; }
fail() { printf 'windows-check FAILED: %s\n' "$*" >&2; [ -n "${work:-}" ] && tail -20 "$work"/run*.log >&2 2>/dev/null; exit 1; }
t0=$(date +%s)
missing=()
for p in wine64 msitools wixl python3 openssl; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

say "cross-build"
packaging/windows-build.sh
tb=$(( $(date +%s) - t0 ))
exe=${WIN_TARGET_DIR:-$root/target-windows}/x86_64-pc-windows-gnu/release/smarthost.exe
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

work=$(mktemp -d /tmp/smarthost-windows.XXXXXX)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  WINEPREFIX="$work/prefix" wineserver -k 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cp "$exe" "$work/"
packaging/windows/wine-shim/build.sh "$work" >/dev/null
export WINEPREFIX="$work/prefix" WINEDEBUG=-all WINEDLLOVERRIDES=bcryptprimitives=n WINEARCH=win64
wine=/usr/lib/wine/wine64
cd "$work"

say "wine64 smarthost.exe --version, check-config"
"$wine" smarthost.exe --version | tee version.txt
grep -q "smarthost $version" version.txt || fail "--version"
cp "$root/conf/smarthost.toml" reference.toml
"$wine" smarthost.exe check-config reference.toml | tr -d '\r' | grep -qx "configuration OK" || fail "check-config"
echo "check-config reference.toml: configuration OK"

port_open() { ss -Hltn 'sport = :2525' | grep -q .; }
start_relay() { # LOG ARGS...
  local log=$1; shift
  port_open && fail "port 2525 is busy"
  "$wine" smarthost.exe run "$@" 2>"$log" &
  pid=$!
  for _ in $(seq 600); do port_open && return 0; sleep 0.1; done
  fail "smarthost.exe is not listening on 127.0.0.1:2525"
}
send() { # SUBJECT plain|starttls
  python3 - "$1" "$2" <<'PY'
import smtplib, ssl, sys
from email.message import EmailMessage
subject, mode = sys.argv[1], sys.argv[2]
m = EmailMessage()
m["From"] = "erp@example.com"; m["To"] = "office@example.net"; m["Subject"] = subject
m.set_content("sent from Linux to smarthost.exe under Wine")
with smtplib.SMTP("127.0.0.1", 2525, timeout=60) as s:
    if mode == "starttls":
        ctx = ssl.create_default_context(cafile="cert.pem")
        s.starttls(context=ctx)
        print("STARTTLS:", s.sock.version(), s.sock.cipher()[0])
    s.send_message(m)
print("smtplib", mode, ": accepted")
PY
}
find_eml() { # SUBJECT
  for _ in $(seq 100); do
    f=$(grep -l -F "$1" outbox/*.eml 2>/dev/null | head -1 || true)
    [ -n "$f" ] && { echo "found $work/$f"; return 0; }
    sleep 0.2
  done
  fail "no .eml with \"$1\" in outbox"
}
stop_relay() { # LOG
  kill -INT "$pid"
  local rc=0; wait "$pid" || rc=$?
  pid=""
  [ "$rc" = 0 ] || fail "exit code $rc after Ctrl-C"
  grep -q "shutting down" "$1" || fail "no drain on Ctrl-C"
  echo "Ctrl-C: drained, exit 0"
}

say "smarthost.exe run (embedded default), plain SMTP from Linux"
ts=$(date +%s)
start_relay run-plain.log
echo "listening after $(( $(date +%s) - ts )) s"
send "wine plain $$" plain
find_eml "wine plain $$"
stop_relay run-plain.log

say "smarthost.exe run, STARTTLS from Linux"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout key.pem -out cert.pem 2>/dev/null
sed 's|^hostname = .*|&\ntls_cert = "cert.pem"\ntls_key = "key.pem"|' "$root/conf/default.toml" >tls.toml
"$wine" smarthost.exe check-config tls.toml | tr -d '\r' | grep -qx "configuration OK" || fail "check-config tls.toml"
start_relay run-tls.log --config tls.toml
send "wine starttls $$" starttls
find_eml "wine starttls $$"
stop_relay run-tls.log

say "MSI (wixl)"
cp "$root/packaging/windows/smarthost.wxs" "$root/packaging/windows/console.url" .
wixl -a x64 -D Version="$version" -D Exe=smarthost.exe -D Config=reference.toml \
  -D ConsoleUrl=console.url -o "smarthost-$version-x64.msi" smarthost.wxs
# wixl 0.101 has no NeverOverwrite/Permanent: Win64 (256) + Permanent (16) + NeverOverwrite (128).
msibuild "smarthost-$version-x64.msi" -q "UPDATE Component SET Attributes = 400 WHERE Component = 'Config'"
msi="smarthost-$version-x64.msi"
for t in File Component ServiceInstall ServiceControl Directory; do
  msiinfo export "$msi" "$t" | tail -n +4
done | tee msi-tables.txt
grep -q "^SmarthostService	smarthost	.*	16	2	1	.*	service run	Exe" msi-tables.txt || fail "ServiceInstall (own process, auto start)"
grep -q "^SmarthostServiceControl	smarthost	163	" msi-tables.txt || fail "ServiceControl (start at install, stop, remove at uninstall)"
grep -q "^Config	.*	DATADIR	400	" msi-tables.txt || fail "config component not NeverOverwrite+Permanent"
grep -q "smarthost console.url" msi-tables.txt || fail "no Start-menu shortcut"
out=${WIN_TARGET_DIR:-$root/target-windows}
cp "$msi" "$out/"
echo "MSI $(du -h "$msi" | cut -f1), exe $(du -h smarthost.exe | cut -f1) -> $out/$msi"
echo
echo "windows-check OK in $(( $(date +%s) - t0 )) s (cross-build $tb s)"
