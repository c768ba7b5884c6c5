#!/usr/bin/env bash
# Fetches four large real-world WebAssembly modules from the npm registry (`npm pack`)
# and prints their paths, one per line: the modules the reader's exactness test
# (tests/test_real_modules.py) and the speed benchmark (benchmarks/inspect_speed.py)
# use. Idempotent: the packages land in ~/.cache/auditor/npm (or $AUDITOR_NPM_CACHE),
# outside the repository; a second run only prints the paths.
#
#   @biomejs/wasm-nodejs 2.5.14   45.6 MB, 35,823 functions (Rust, wasm-bindgen)
#   @swc/wasm 1.16.21             18.0 MB (Rust)
#   lightningcss-wasm 1.33.0      15.8 MB (Rust)
#   esbuild-wasm 0.28.2           14.0 MB (Go: huge br_tables)
set -euo pipefail

DIR=${AUDITOR_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/auditor/npm}
PACKAGES=(
  "@biomejs/wasm-nodejs@2.5.14 biomejs-wasm-nodejs-2.5.14.tgz package/biome_wasm_bg.wasm"
  "@swc/wasm@1.16.21 swc-wasm-1.16.21.tgz package/wasm_bg.wasm"
  "lightningcss-wasm@1.33.0 lightningcss-wasm-1.33.0.tgz package/lightningcss_node.wasm"
  "esbuild-wasm@0.28.2 esbuild-wasm-0.28.2.tgz package/esbuild.wasm"
)
mkdir -p "$DIR"
exec 9>"$DIR/.lock"  # one download at a time (test sessions of several worktrees share it)
flock 9
for entry in "${PACKAGES[@]}"; do
  read -r spec tgz member <<<"$entry"
  out="$DIR/${tgz%.tgz}"
  if [ ! -f "$out/$member" ]; then
    if [ ! -f "$DIR/$tgz" ]; then
      command -v npm >/dev/null || { echo "real_modules: npm not found" >&2; exit 2; }
      echo "real_modules: npm pack $spec" >&2
      (cd "$DIR" && npm pack "$spec" --silent >/dev/null)
    fi
    mkdir -p "$out"
    tar -xzf "$DIR/$tgz" -C "$out" "$member"
  fi
  echo "$out/$member"
done
