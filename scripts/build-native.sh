#!/usr/bin/env bash
# Builds auditor/wasm/native/codescan.wasm (the compiled code-section reader) from
# codescan.c, graphcore.wasm (the item graph's edges, dominators, reachability) from
# graphcore.c, and demangle.wasm (the compiled Rust demangler) from demangle.c, with
# Debian's clang-16 and wasm-ld-16 (apt: clang-16 lld-16).
#
#   bash scripts/build-native.sh            rebuild every committed module in place
#   bash scripts/build-native.sh OUT.wasm   build codescan into OUT.wasm (tests/test_native_build.py
#                                           does, and checks the bytes equal the committed ones)
#   bash scripts/build-native.sh OUT.wasm NAME   build NAME.c (graphcore, demangle) into OUT.wasm
#
# Reproducible: fixed flags, the source compiled by a relative name in its own directory,
# no debug info, no wasm-opt pass (see below), every custom section stripped (no paths, no producers
# section), so the same clang-16 gives the same bytes on any machine.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
SRC_DIR="$HERE/auditor/wasm/native"
if [ $# -eq 0 ]; then  # every module, in place
  for name in codescan graphcore demangle; do bash "$0" "$SRC_DIR/$name.wasm" "$name"; done
  exit 0
fi
NAME=${2:-codescan}
case "$NAME" in codescan|graphcore|demangle) ;; *) echo "build-native: unknown source $NAME" >&2; exit 2 ;; esac
OUT=$1
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
CLANG=$(command -v "${CLANG:-clang-16}" || true)
[ -n "$CLANG" ] || { echo "build-native: $CLANG not found (apt-get install clang-16 lld-16)" >&2; exit 2; }
LLD=$(command -v wasm-ld-16 || command -v wasm-ld || true)
[ -n "$LLD" ] || { echo "build-native: wasm-ld-16 not found (apt-get install lld-16)" >&2; exit 2; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$SRC_DIR"
# Compile and link as two steps: clang's driver runs any `wasm-opt` it finds (binaryen's,
# whichever version is installed) after linking, which would make the bytes depend on
# the machine; wasm-ld called directly does not.
"$CLANG" --target=wasm32 -O2 -std=c11 -Wall -Wextra -Werror \
  -ffreestanding -fno-builtin -fno-ident -c -o "$TMP/$NAME.o" "$NAME.c"
"$LLD" --no-entry --strip-all --export=__heap_base --export-memory \
  -z stack-size=65536 --initial-memory=262144 \
  -o "$TMP/$NAME.wasm" "$TMP/$NAME.o"
chmod 644 "$TMP/$NAME.wasm"
mv "$TMP/$NAME.wasm" "$OUT"
echo "$OUT"
