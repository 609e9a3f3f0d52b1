#!/usr/bin/env bash
# Builds the Debian package: installs cargo-deb (pinned) when missing, builds the release binary
# (no debug info, stripped), writes the man page and the bash/zsh/fish completions from the binary
# itself (`smarthost manpage`, `smarthost completions SHELL`) into packaging/deb/generated/, and
# runs `cargo deb`. The last line printed is the path of the .deb:
#   packaging/build-deb.sh     # -> target/debian/smarthost_VERSION-1_amd64.deb
# cargo-deb goes into SMARTHOST_TOOLS_DIR (default: target/tools).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CARGO_DEB_VERSION=3.8.0
target=${CARGO_TARGET_DIR:-$root/target}
export DEBIAN_FRONTEND=noninteractive
need=()
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
tools=${SMARTHOST_TOOLS_DIR:-$target/tools}
export PATH="$tools/bin:$PATH"
if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION" --root "$tools" --quiet
fi
cargo deb --version >&2

packaging/deb/make-config.sh --check
tb=$(date +%s)
cargo build --release --locked --quiet
gen=packaging/deb/generated
mkdir -p "$gen"
"$target/release/smarthost" manpage | gzip -9n >"$gen/smarthost.1.gz"
"$target/release/smarthost" completions bash >"$gen/smarthost.bash"
"$target/release/smarthost" completions zsh >"$gen/_smarthost"
"$target/release/smarthost" completions fish >"$gen/smarthost.fish"
rm -f "$target"/debian/smarthost_*.deb
cargo deb --no-build --quiet
deb=$(ls "$target"/debian/smarthost_*.deb)
# The shipped binary carries neither debug info nor a symbol table.
if readelf -S "$target/release/smarthost" | grep -q '\.debug_\|\.symtab'; then
  echo "build-deb: target/release/smarthost has debug info or symbols" >&2
  exit 1
fi
echo "built $deb in $(( $(date +%s) - tb )) s: $(du -h "$deb" | cut -f1) (binary $(du -h "$target/release/smarthost" | cut -f1), stripped, no debug info)" >&2
echo "$deb"
