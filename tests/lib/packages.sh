# Debian packages for the test service scripts and the bench (tests/harness, tests/dns, bench):
# installs what is missing, one installer at a time across all of them, without letting the
# packages start the system's own Postfix or Dovecot. The caller defines log() and die().

APT_LOCK=/tmp/harness-apt.lock

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing_packages() {
    local p
    for p in "$@"; do pkg_installed "$p" || printf '%s\n' "$p"; done
}

# ensure_packages APT_LOG PACKAGE...
ensure_packages() {
    local apt_log="$1" missing
    shift
    missing="$(missing_packages "$@")"
    [ -z "$missing" ] && return 0
    [ "$(id -u)" = 0 ] || die "need root to install: ${missing//$'\n'/ }"
    # The lock on fd 8 keeps a second installer from removing policy-rc.d under the first; it is
    # released here, or when the script exits.
    exec 8>"$APT_LOCK"
    flock -w 900 8 || die "timed out waiting for $APT_LOCK"
    missing="$(missing_packages "$@")"
    [ -z "$missing" ] && { exec 8>&-; return 0; }
    # shellcheck disable=SC2086  # one package name per word
    set -- $missing
    log "installing: $* (apt-get update + install, log $apt_log)"
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    local rc=0 apt_opts=(-y -q -o DPkg::Lock::Timeout=600)
    # Fresh machines (CI) have empty package lists: always update first.
    DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update </dev/null >"$apt_log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install --no-install-recommends "$@" \
        </dev/null >>"$apt_log" 2>&1 || rc=$?
    if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    exec 8>&-
    [ "$rc" = 0 ] || die "apt-get install failed, see $apt_log"
}
