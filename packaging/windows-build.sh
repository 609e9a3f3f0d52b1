#!/usr/bin/env bash
# Cross-builds smarthost.exe for x86_64-pc-windows-gnu on Debian 12 (the recipe of
# shared/design/windows-build.md): Debian's rustc-web/cargo-web 1.96 with rust-web-src (std is
# rebuilt with -Zbuild-std, hence RUSTC_BOOTSTRAP), mingw-w64 and nasm (aws-lc-sys). Installs
# those packages with apt-get when missing (as root). Prints the exe's path, size and build time.
#   packaging/windows-build.sh            # -> $WIN_TARGET_DIR/x86_64-pc-windows-gnu/release/smarthost.exe
# WIN_TARGET_DIR defaults to target-windows/ in the repository.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pkgs=(rustc-web cargo-web rust-web-src mingw-w64 nasm)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
triple=x86_64-pc-windows-gnu
export PATH="/usr/bin:$PATH"                  # Debian's 1.96 cargo/rustc, not rustup's
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc
export CXX_x86_64_pc_windows_gnu=x86_64-w64-mingw32-g++
export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
export CARGO_TARGET_DIR=${WIN_TARGET_DIR:-$root/target-windows}
echo "toolchain: $(/usr/bin/rustc --version), $(/usr/bin/cargo --version), $(x86_64-w64-mingw32-gcc --version | head -1), nasm $(nasm -v | awk '{print $3}')"
t0=$(date +%s)
/usr/bin/cargo build --release --locked -Zbuild-std=std,panic_abort --target "$triple" --bin smarthost
exe="$CARGO_TARGET_DIR/$triple/release/smarthost.exe"
x86_64-w64-mingw32-strip "$exe"
echo "built $exe in $(( $(date +%s) - t0 )) s: $(du -h "$exe" | cut -f1)"
