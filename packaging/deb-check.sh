#!/usr/bin/env bash
# Builds the Debian package with cargo-deb and checks it on this machine, as root (CI stage
# "deb", called from .ci/run):
#  1. packaging/build-deb.sh: release build (no debug info, stripped), man page and completions,
#     `cargo deb` -> target/debian/smarthost_*.deb (size and build time printed);
#  2. dpkg -i; /usr/bin/smarthost check-config /etc/smarthost/smarthost.toml;
#  3. systemd-analyze verify on the unit, systemd-analyze security (exposure score printed);
#  4. starts the relay the way the unit's ExecStart does (systemctl when systemd is PID 1, else
#     as the smarthost user with setpriv, umask 077, in /var/lib/smarthost), sends a mail with
#     python3 smtplib to 127.0.0.1:2525, finds the .eml under /var/lib/smarthost/outbox, stops
#     it (SIGTERM) and expects exit 0;
#  5. dpkg -r keeps the configuration and the spool; dpkg -P removes both.
# Leaves smarthost uninstalled. Needs a free port 2525.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '\n== deb-check: %s\n' "$*"; }
fail() { printf 'deb-check FAILED: %s\n' "$*" >&2; exit 1; }
t0=$(date +%s)

say "build (packaging/build-deb.sh)"
packaging/build-deb.sh | tee /tmp/smarthost-build-deb.txt
deb=$(tail -1 /tmp/smarthost-build-deb.txt)
[ -f "$deb" ] || fail "no package built"
export DEBIAN_FRONTEND=noninteractive
need=()
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v setpriv >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'
dpkg-deb --contents "$deb" | awk '{print $1, $6}'

say "install"
dpkg -P smarthost >/dev/null 2>&1 || true
dpkg -i "$deb"
getent passwd smarthost || fail "no smarthost user"
[ -d /var/lib/smarthost ] && [ "$(stat -c %U:%a /var/lib/smarthost)" = smarthost:700 ] \
  || fail "/var/lib/smarthost is not smarthost's with mode 700"
dpkg-query -W -f='${Conffiles}\n' smarthost | grep -q /etc/smarthost/smarthost.toml \
  || fail "/etc/smarthost/smarthost.toml is not a conffile"
/usr/bin/smarthost check-config /etc/smarthost/smarthost.toml
man -w smarthost >/dev/null 2>&1 || [ -f /usr/share/man/man1/smarthost.1.gz ] || fail "no man page"

say "systemd unit"
unit=$(dpkg -L smarthost | grep '/systemd/system/smarthost.service$')
echo "$unit"
systemd-analyze verify "$unit"
echo "systemd-analyze verify: OK"
systemd-analyze security --offline=true --no-pager "$unit" | tee /tmp/smarthost-security.txt | tail -1
score=$(grep -o 'Overall exposure level for smarthost.service: [0-9.]* [A-Z]*' /tmp/smarthost-security.txt || true)
[ -n "$score" ] || fail "no exposure score"
echo "systemd exposure score: ${score#*: }"

say "run as ExecStart does, send a mail"
ss -Hltn 'sport = :2525' | grep -q . && fail "port 2525 is busy"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
log=$(mktemp)
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl restart smarthost
  pid=$(systemctl show -p MainPID --value smarthost)
else
  echo "systemd is not PID 1 here: setpriv as smarthost, umask 077, cwd /var/lib/smarthost,"
  echo "stderr to a file standing in for the journal (JOURNAL_STREAM set as systemd sets it)"
  # shellcheck disable=SC2086
  (cd /var/lib/smarthost && umask 077 && exec env JOURNAL_STREAM="$(stat -c %d:%i "$log")" \
     setpriv --reuid=smarthost --regid=smarthost --init-groups --inh-caps=-all --no-new-privs \
     $exec_start) 2>"$log" &
  pid=$!
fi
for _ in $(seq 100); do ss -Hltn 'sport = :2525' | grep -q . && break; sleep 0.1; done
ss -Hltn 'sport = :2525' | grep -q . || { cat "$log"; fail "not listening on 127.0.0.1:2525"; }
[ "$(ps -o uid= -p "$pid" | tr -d ' ')" = "$(id -u smarthost)" ] || fail "not running as smarthost"
subject="deb-check $(date +%s%N)"
python3 - "$subject" <<'PY'
import smtplib, sys
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "payroll@example.com"; m["To"] = "office@example.net"; m["Subject"] = sys.argv[1]
m.set_content("sent by packaging/deb-check.sh")
with smtplib.SMTP("127.0.0.1", 2525, timeout=30) as s:
    s.send_message(m)
print("smtplib: accepted")
PY
eml=""
for _ in $(seq 100); do
  eml=$(grep -l -r --include='*.eml' -F "$subject" /var/lib/smarthost/outbox 2>/dev/null | head -1 || true)
  [ -n "$eml" ] && break; sleep 0.1
done
[ -n "$eml" ] || { cat "$log"; fail "no .eml under /var/lib/smarthost/outbox"; }
echo "found $eml ($(stat -c %U:%a "$eml"))"
if [ -d /run/systemd/system ]; then
  systemctl stop smarthost
else
  kill -TERM "$pid"
  rc=0; wait "$pid" || rc=$?
  [ "$rc" = 0 ] || { cat "$log"; fail "exit code $rc after SIGTERM"; }
  echo "stopped by SIGTERM, exit 0"
fi
if [ ! -d /run/systemd/system ]; then
  head -3 "$log"
  grep -q '^[0-9]\{4\}-' "$log" && fail "timestamps in the log although JOURNAL_STREAM is set"
  grep -q 'listening on 127.0.0.1:2525' "$log" || fail "no log line"
  echo "log for the journal: no timestamps, no colours"
fi
rm -f "$log"

say "remove and purge"
dpkg -r smarthost
[ -f /etc/smarthost/smarthost.toml ] || fail "dpkg -r removed the configuration"
[ -f "$eml" ] && [ -d /var/lib/smarthost/spool ] || fail "dpkg -r removed the spool or the outbox"
[ -e /usr/bin/smarthost ] && fail "dpkg -r left /usr/bin/smarthost"
echo "dpkg -r: binary gone; /etc/smarthost/smarthost.toml and /var/lib/smarthost (spool, $eml) kept"
dpkg -P smarthost
[ -e /etc/smarthost ] && fail "dpkg -P left /etc/smarthost"
[ -e /var/lib/smarthost ] && fail "dpkg -P left /var/lib/smarthost"
echo "dpkg -P: /etc/smarthost and /var/lib/smarthost removed"
echo
echo "deb-check OK in $(( $(date +%s) - t0 )) s: $(basename "$deb") $(du -h "$deb" | cut -f1), systemd exposure ${score#*: }"
