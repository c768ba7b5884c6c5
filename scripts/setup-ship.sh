#!/usr/bin/env bash
# Installs the shipping-stage tools `auditor scan` runs after cargo (issue 11) into
# auditor's tool cache, keyed by version, exactly where auditor looks for them:
#   <tools>/wasm-bindgen-cli/<V>/bin/wasm-bindgen   V = the wasm-bindgen version that
#       fixtures/crates/bindgen_app/Cargo.lock resolves (the CLI must equal the crate's);
#       built with rustc 1.96 (.toolchains/rust-1.96; never the rustup rustc on PATH)
#   <tools>/binaryen/<B>/node_modules/binaryen/bin/wasm-opt   B = rules/ship.toml
#       [wasm-opt] npm-version (npm `binaryen`, runs on Node >= 18)
# <tools> = $AUDITOR_TOOLS_DIR, else ${XDG_CACHE_HOME:-~/.cache}/auditor/tools.
# Idempotent: a tool already there (and answering --version) is kept. ~2 CPU-minutes
# for the CLI on a fresh machine, seconds otherwise.
# Usage: scripts/setup-ship.sh [--dry-run]
set -euo pipefail
cd "$(dirname "$0")/.."

DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
say() { echo "setup-ship: $*" >&2; }
run() { if [ "$DRY" = 1 ]; then echo "+ $*"; else "$@"; fi; }

TOOLS="${AUDITOR_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/auditor/tools}"
LOCK=fixtures/crates/bindgen_app/Cargo.lock
V=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' "$LOCK")
B=$(awk -F'"' '/^npm-version/ {print $2; exit}' rules/ship.toml)
[ -n "$V" ] && [ -n "$B" ] || { say "cannot read the versions from $LOCK / rules/ship.toml"; exit 2; }

# wasm-bindgen CLI, built by the 1.96 toolchain (0.2.105 needs rustc >= 1.7x).
CLI="$TOOLS/wasm-bindgen-cli/$V/bin/wasm-bindgen"
if [ -x "$CLI" ] && [ "$("$CLI" --version 2>/dev/null)" = "wasm-bindgen $V" ]; then
  say "wasm-bindgen $V: $CLI (cached)"
else
  R196="${AUDITOR_RUST196_PREFIX:-.toolchains/rust-1.96}"
  [ -x "$R196/bin/cargo" ] || { say "no rustc 1.96 at $R196 (run scripts/setup.sh first)"; exit 2; }
  say "installing wasm-bindgen-cli $V into $TOOLS/wasm-bindgen-cli/$V (about 2 CPU-minutes)"
  run mkdir -p "$TOOLS/wasm-bindgen-cli"
  run env -u RUSTUP_TOOLCHAIN -u RUSTFLAGS -u CARGO_TARGET_DIR \
    CARGO="$R196/bin/cargo" RUSTC="$R196/bin/rustc" \
    flock "$TOOLS/wasm-bindgen-cli/$V.lock" \
    "$R196/bin/cargo" install wasm-bindgen-cli --version "$V" --locked --debug --no-default-features \
      --bin wasm-bindgen --root "$TOOLS/wasm-bindgen-cli/$V"
fi

# wasm-opt from npm binaryen (Debian's binaryen 108 predates rustc 1.8x's default features).
OPT="$TOOLS/binaryen/$B/node_modules/binaryen/bin/wasm-opt"
if [ -x "$OPT" ] && "$OPT" --version >/dev/null 2>&1; then
  say "wasm-opt: $OPT ($("$OPT" --version)) (cached)"
else
  command -v npm >/dev/null || { say "npm not found (scripts/setup.sh installs node)"; exit 2; }
  say "installing npm binaryen@${B%%.*} into $TOOLS/binaryen/$B"
  run mkdir -p "$TOOLS/binaryen/$B"
  run flock "$TOOLS/binaryen/$B.lock" npm install --prefix "$TOOLS/binaryen/$B" --no-audit --no-fund "binaryen@${B%%.*}"
fi
[ "$DRY" = 1 ] || { "$CLI" --version >/dev/null && "$OPT" --version >/dev/null && say "done: $TOOLS"; }
