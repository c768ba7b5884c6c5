#!/usr/bin/env bash
# Installs everything auditor and its tests need on a Debian/Ubuntu machine:
#   - a Python >= 3.11 virtual environment in .venv with auditor (editable) and test deps;
#   - wabt, binaryen and clang (independent cross-checks and test-input makers);
#   - Debian's rustc 1.63 + cargo + libstd-rust-dev-wasm32 + lld (the tests build with it;
#     with --runtime-only, only when no wasm32-capable Rust toolchain is found);
#   - node (V8: the independent runtime the tests re-run workloads in);
#   - rustc 1.96 (Debian's rustc-web, unpacked next to 1.63, never over it) with a wasm32
#     std built once into a shared cache by scripts/rust_web.sh, linked as
#     .toolchains/rust-1.96 in this checkout.
# Usage: scripts/setup.sh [--runtime-only] [--no-rust-web] [--venv DIR] [--dry-run]
#   --runtime-only  skip test tools, test deps and rustc 1.96 (used by the Dockerfile)
#   --no-rust-web   skip rustc 1.96 (its tests then skip, saying why)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
RUNTIME_ONLY=0
RUST_WEB=1
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runtime-only) RUNTIME_ONLY=1; RUST_WEB=0 ;;
    --no-rust-web) RUST_WEB=0 ;;
    --venv) VENV="$2"; shift ;;
    --dry-run) DRY=1 ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "setup: $*" >&2; }
run() { if [ "$DRY" = 1 ]; then echo "+ $*"; else "$@"; fi; }

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi

# A rustc whose sysroot holds the wasm32-unknown-unknown std, with a cargo next to it.
has_wasm32_toolchain() {
  local rustc
  for rustc in "${RUSTC:-}" "$(command -v rustc 2>/dev/null || true)" /usr/bin/rustc; do
    [ -n "$rustc" ] && [ -x "$rustc" ] || continue
    local sysroot
    sysroot=$("$rustc" --print sysroot 2>/dev/null) || continue
    if [ -d "$sysroot/lib/rustlib/wasm32-unknown-unknown" ]; then
      say "wasm32-capable rustc: $rustc ($("$rustc" --version 2>/dev/null))"
      return 0
    fi
  done
  return 1
}

pkgs=()
missing() { dpkg -s "$1" >/dev/null 2>&1 || pkgs+=("$1"); }

if [ "$RUNTIME_ONLY" = 0 ]; then
  # The test suite builds its fixtures with exactly this toolchain (/usr/bin/cargo).
  for p in rustc cargo libstd-rust-dev-wasm32 lld; do missing "$p"; done
elif ! has_wasm32_toolchain; then
  say "no Rust toolchain with the wasm32-unknown-unknown std found: installing Debian's"
  for p in rustc cargo libstd-rust-dev-wasm32 lld; do missing "$p"; done
fi
missing git
missing binutils
missing binaryen
if [ "$RUNTIME_ONLY" = 0 ]; then
  missing wabt
  missing brotli
  command -v node >/dev/null 2>&1 || missing nodejs
  command -v npm >/dev/null 2>&1 || missing npm  # binaryen 132 (wasm-opt) for the shipping stages
  # Headless chromium for the HTML report tests (tests/browser.py; ~100 MB of .debs).
  if ! command -v chromium >/dev/null 2>&1; then pkgs+=(chromium fonts-liberation); fi
  if ! command -v clang-16 >/dev/null 2>&1; then pkgs+=(clang-16 lld-16); fi
  # llvm-dwarfdump-16: the independent DWARF reader the tests compare against.
  if ! command -v llvm-dwarfdump-16 >/dev/null 2>&1; then pkgs+=(llvm-16); fi
  # libstd-rust-dev-wasm32 also carries wasm32-wasi's std on Debian (used by WASI tests).
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  say "python3 >= 3.11 is required"; missing python3
fi
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing python3-venv; fi

if [ ${#pkgs[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    say "need these packages but apt-get is not available: ${pkgs[*]}"; exit 2
  fi
  say "apt-get install ${pkgs[*]}"
  run $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  run $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  run python3 -m venv "$VENV"
fi
extra="[test]"
[ "$RUNTIME_ONLY" = 1 ] && extra="[html]"  # the image renders HTML reports too
if [ "$RUNTIME_ONLY" = 1 ]; then
  run "$VENV/bin/python" -m pip install -q --disable-pip-version-check ".$extra" >&2
else
  run "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".$extra" >&2
fi
if [ "$RUST_WEB" = 1 ]; then
  # rustc 1.96 in a cache shared by every checkout on the machine (keyed by package
  # versions); this checkout reaches it through .toolchains/rust-1.96 (gitignored).
  if [ "$DRY" = 1 ]; then
    bash scripts/rust_web.sh --dry-run
    bash scripts/setup-ship.sh --dry-run
  else
    prefix=$(bash scripts/rust_web.sh)
    mkdir -p .toolchains
    ln -sfn "$prefix" .toolchains/rust-1.96
    say "rustc 1.96: .toolchains/rust-1.96 -> $prefix"
    # The shipping stages' tools (wasm-bindgen CLI built by 1.96, npm binaryen), cached by version.
    bash scripts/setup-ship.sh
  fi
fi
say "done: $VENV/bin/auditor"
