#!/usr/bin/env bash
# A second, current Rust toolchain next to Debian's rustc 1.63, without replacing it:
# Debian's `rustc-web` packages (bookworm-security) are `apt-get download`ed and unpacked
# with `dpkg -x` into a prefix, and the wasm32-unknown-unknown standard library, which
# Debian does not ship for rustc-web, is built ONCE from the packaged sources
# (`rust-web-src`, dependencies vendored in library/vendor) and installed into the
# prefix's sysroot. After that, `PREFIX/bin/cargo build --target wasm32-unknown-unknown`
# works like a rustup toolchain with the target added (LTO too: the rlibs carry bitcode).
#
# WHY a cache outside the checkout: building std costs minutes; every checkout on the
# machine (and every CI step of one run) shares one prefix, keyed by the exact package
# versions and this recipe, so a security update of the packages makes a new prefix and a
# machine that has the prefix reuses it.
#
# Usage: scripts/rust_web.sh [--dry-run] [--series 1.96]
#   prints the prefix on stdout (progress on stderr).
# Environment:
#   AUDITOR_TOOLCHAIN_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/auditor/toolchains)
# Layout of a prefix (PREFIX = CACHE/rust-<series>-<key>, CACHE/rust-<series> links to it):
#   bin/{cargo,rustc,rustdoc}   wrappers that set LD_LIBRARY_PATH and exec usr/bin/*
#   usr/                        the unpacked packages; usr/lib/rustlib/wasm32-unknown-unknown/lib
#                               holds the std built here
#   env.sh                      `. env.sh` exports CARGO, RUSTC, LD_LIBRARY_PATH
#   build-std.toml              cargo --config file for the -Zbuild-std route (offline vendor)
#   auditor-toolchain.json      versions, key, std build seconds
set -euo pipefail

SERIES=1.96
DRY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --series) SERIES="$2"; shift ;;
    *) echo "rust_web.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

# Bump when the std build recipe below changes: it is part of the cache key.
RECIPE=1
TARGET=wasm32-unknown-unknown
HOST=x86_64-unknown-linux-gnu
MULTIARCH=x86_64-linux-gnu

say() { echo "rust_web: $*" >&2; }
die() { echo "rust_web: $*" >&2; exit 2; }

if [ "$(dpkg --print-architecture 2>/dev/null)" != amd64 ]; then
  die "only amd64 is supported (Debian's rustc-web for $(dpkg --print-architecture 2>/dev/null || echo '?'))"
fi

# The newest rustc-web of the series the apt lists know (bookworm-security carries 1.96;
# bookworm main carries an older one, which must not be picked).
newest_of_series() {
  apt-cache madison rustc-web 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}' \
    | grep -E "^${SERIES//./\\.}\." | sort -V | tail -1 || true
}
RUST_VER=$(newest_of_series)
if [ -z "$RUST_VER" ] && [ "$DRY" = 1 ]; then
  echo "+ apt-get update; apt-get download rustc-web=$SERIES.x ... (versions unknown until then)"
  exit 0
fi
if [ -z "$RUST_VER" ]; then
  say "apt lists have no rustc-web $SERIES: apt-get update"
  SUDO=""; if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  RUST_VER=$(newest_of_series)
fi
[ -n "$RUST_VER" ] || die "no rustc-web $SERIES.x in the apt sources (is bookworm-security enabled?)"

LIBSTD=libstd-rust-web-$SERIES
# The LLVM major rustc-web links against, read from its package metadata.
LLVM_MAJOR=$(apt-cache show "$LIBSTD=$RUST_VER" 2>/dev/null | sed -n 's/^Depends:.*libllvm\([0-9][0-9]*\).*/\1/p' | head -1)
[ -n "$LLVM_MAJOR" ] || die "cannot tell which libllvm $LIBSTD $RUST_VER needs"
candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/{print $2}'; }
LLVM_VER=$(candidate "libllvm$LLVM_MAJOR")
LLD_VER=$(candidate "lld-$LLVM_MAJOR")
[ -n "$LLVM_VER" ] && [ "$LLVM_VER" != "(none)" ] || die "libllvm$LLVM_MAJOR is not in the apt sources"
[ -n "$LLD_VER" ] && [ "$LLD_VER" != "(none)" ] || die "lld-$LLVM_MAJOR is not in the apt sources"

# Package=version list: what is unpacked, and (with RECIPE) the cache key.
PKGS=(
  "rustc-web=$RUST_VER" "cargo-web=$RUST_VER" "rust-web-src=$RUST_VER"
  "$LIBSTD=$RUST_VER" "libstd-rust-web-dev=$RUST_VER"
  "libllvm$LLVM_MAJOR=$LLVM_VER"
  # The wasm linker matching rustc's LLVM (Debian's /usr/bin/rust-lld is lld 14).
  "lld-$LLVM_MAJOR=$LLD_VER"
)
KEY=$(printf '%s\n' "${PKGS[@]}" "recipe=$RECIPE" "target=$TARGET" | sha256sum | cut -c1-12)
CACHE=${AUDITOR_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/auditor/toolchains}
PREFIX="$CACHE/rust-$SERIES-$KEY"

# Shared libraries the unpacked binaries need (Depends of the packages, minus the
# packages themselves); installing them does not touch /usr/bin/rustc.
runtime_deps() {
  local spec name
  for spec in "${PKGS[@]}"; do
    apt-cache show "$spec" 2>/dev/null | sed -n 's/^Depends: //p' | head -1
  done | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | sort -u | while read -r name; do
    [ -n "$name" ] || continue
    case " ${PKGS[*]} " in *" $name="*) continue ;; esac
    # Installed, or a virtual package (libc-dev) some installed package provides.
    dpkg -s "$name" >/dev/null 2>&1 || grep -qxF "$name" <<<"$provided" || echo "$name"
  done
}
provided=$(dpkg-query -W -f='${Provides}\n' 2>/dev/null | tr ',' '\n' | sed 's/(.*)//; s/[[:space:]]//g' | sort -u)

if [ "$DRY" = 1 ]; then
  for p in "${PKGS[@]}"; do echo "+ apt-get download $p"; done
  deps=$(runtime_deps | tr '\n' ' ')
  [ -n "$deps" ] && echo "+ apt-get install $deps"
  echo "+ dpkg -x each into $PREFIX; build $TARGET std into its sysroot"
  echo "$PREFIX"
  exit 0
fi

if [ -f "$PREFIX/auditor-toolchain.json" ]; then
  say "reusing $PREFIX"
  ln -sfn "$(basename "$PREFIX")" "$CACHE/rust-$SERIES"
  echo "$PREFIX"
  exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock-$SERIES-$KEY"
flock 9
if [ -f "$PREFIX/auditor-toolchain.json" ]; then   # another checkout finished it meanwhile
  say "reusing $PREFIX (built by a concurrent setup)"
  echo "$PREFIX"
  exit 0
fi

deps=$(runtime_deps | tr '\n' ' ')
if [ -n "${deps// /}" ]; then
  SUDO=""; if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
  say "apt-get install (libraries rustc-web needs) $deps"
  # shellcheck disable=SC2086
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $deps >&2
fi

T0=$SECONDS
STAGE=$(mktemp -d "$CACHE/.stage-$SERIES-$KEY.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
say "downloading ${PKGS[*]}"
mkdir "$STAGE/debs"
# (As root, apt warns that `_apt` cannot write the stage directory: harmless.)
(cd "$STAGE/debs" && apt-get -q download "${PKGS[@]}" >&2) || die "apt-get download ${PKGS[*]} failed"
T_DOWNLOAD=$((SECONDS - T0))
say "unpacking into $PREFIX"
for deb in "$STAGE"/debs/*.deb; do dpkg -x "$deb" "$STAGE"; done
rm -rf "$STAGE/debs" "$STAGE/usr/share/doc" "$STAGE/usr/share/man" "$STAGE/usr/share/lintian"
T_UNPACK=$((SECONDS - T0 - T_DOWNLOAD))

SRC_VERSION_DIR=$(cd "$STAGE/usr/src" && ls -d rustc-* | head -1)
[ -n "$SRC_VERSION_DIR" ] || die "rust-web-src has no usr/src/rustc-* directory"
SRC="$STAGE/usr/src/$SRC_VERSION_DIR"
LLD_BIN="usr/lib/llvm-$LLVM_MAJOR/bin/lld"
[ -x "$STAGE/$LLD_BIN" ] || die "lld-$LLVM_MAJOR has no $LLD_BIN"

# Wrappers resolve the prefix from their own location, so the prefix can be moved (the
# stage directory is renamed into place) and reached through symlinks.
mkdir -p "$STAGE/bin"
for tool in cargo rustc rustdoc; do
  cat >"$STAGE/bin/$tool" <<EOF
#!/bin/sh
# rustc-web $RUST_VER from $PREFIX: its librustc_driver and libLLVM are not on the
# system library path.
p=\$(cd "\$(dirname "\$0")/.." && pwd -P)
LD_LIBRARY_PATH="\$p/usr/lib/$MULTIARCH\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$p/usr/bin/$tool" "\$@"
EOF
  chmod +x "$STAGE/bin/$tool"
done
# rustc puts sysroot/lib/rustlib/<host>/bin first on the linker's PATH: this rust-lld
# shadows Debian's /usr/bin/rust-lld (lld 14) with the lld of rustc's own LLVM.
mkdir -p "$STAGE/usr/lib/rustlib/$HOST/bin"
cat >"$STAGE/usr/lib/rustlib/$HOST/bin/rust-lld" <<EOF
#!/bin/sh
p=\$(cd "\$(dirname "\$0")/../../../../.." && pwd -P)
LD_LIBRARY_PATH="\$p/usr/lib/$MULTIARCH\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$p/$LLD_BIN" "\$@"
EOF
chmod +x "$STAGE/usr/lib/rustlib/$HOST/bin/rust-lld"

COMMIT=$("$STAGE/bin/rustc" -vV | sed -n 's/^commit-hash: //p')
[ -n "$COMMIT" ] || die "cannot run the unpacked rustc: $("$STAGE/bin/rustc" -vV 2>&1 | head -1)"

# ---------------------------------------------------------------- wasm32 std, built once
# cargo -Zbuild-std (the route rustup users take for targets without a prebuilt std)
# compiles std with the profile of a throw-away cdylib; its rlibs become the sysroot.
#   - -Cembed-bitcode=yes: cargo passes embed-bitcode=no to a non-LTO build, and the
#     installed rlibs must serve `lto = true` users too (rustup's std carries bitcode).
#   - codegen-units = 1, debug = "limited", opt-level 3: what rustup's dist std uses.
#   - --remap-path-prefix: std's paths read /rustc/<commit>/library/... like rustup's, so
#     rustc maps them back to this prefix's rust-src in diagnostics, and no path of the
#     stage directory is left in the rlibs.
#   - --offline with crates-io replaced by the packaged vendor directory: no network.
B="$STAGE/.std-build"
mkdir -p "$B/src" "$B/.cargo" "$B/cargo-home"
cat >"$B/Cargo.toml" <<'EOF'
[package]
name = "auditor_std_builder"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
crate-type = ["cdylib"]
path = "src/lib.rs"

[profile.release]
opt-level = 3
codegen-units = 1
debug = "limited"
EOF
echo '#[no_mangle] pub extern "C" fn auditor_std_builder(n: usize) -> usize { Vec::<u8>::with_capacity(n).capacity() }' >"$B/src/lib.rs"
# Cargo config replacing crates-io with std's packaged vendor directory $1 (offline).
vendor_config() {
  printf '[source.crates-io]\nreplace-with = "rust-std-vendor"\n[source.rust-std-vendor]\ndirectory = "%s"\n' "$1"
}
vendor_config "$SRC/library/vendor" >"$B/.cargo/config.toml"
RUSTFLAGS_STD=$(printf '%s\x1f' -Cembed-bitcode=yes \
  "--remap-path-prefix=$SRC=/rustc/$COMMIT" \
  "--remap-path-prefix=$STAGE/usr/lib/rustlib/src/rust=/rustc/$COMMIT" \
  "--remap-path-prefix=$SRC/library/vendor=/rust/deps")
RUSTFLAGS_STD=${RUSTFLAGS_STD%$'\x1f'}
say "building the $TARGET std from $SRC_VERSION_DIR/library (once per package versions; minutes)"
T1=$SECONDS
(cd "$B" && env -i PATH="$PATH" HOME="$HOME" CARGO_HOME="$B/cargo-home" \
  RUSTC="$STAGE/bin/rustc" RUSTC_BOOTSTRAP=1 CARGO_ENCODED_RUSTFLAGS="$RUSTFLAGS_STD" \
  CARGO_TARGET_DIR="$B/target" CARGO_TERM_PROGRESS_WHEN=never \
  "$STAGE/bin/cargo" build --offline --release --target "$TARGET" \
  -Zbuild-std=std,panic_abort >&2) || die "building the $TARGET std failed (output above)"
T_STD=$((SECONDS - T1))
LIB="$STAGE/usr/lib/rustlib/$TARGET/lib"
mkdir -p "$LIB"
cp "$B/target/$TARGET/release/deps/"lib*.rlib "$B/target/$TARGET/release/deps/"lib*.rmeta "$LIB/"
for crate in std core alloc panic_abort compiler_builtins; do
  n=$(find "$LIB" -name "lib$crate-*.rlib" | wc -l)
  [ "$n" = 1 ] || die "sysroot has $n lib$crate rlibs, expected 1"
done
rm -rf "$B"

# The -Zbuild-std route (issue 9 item 3) stays usable offline: this config file names the
# packaged vendor directory (`cargo --config PREFIX/build-std.toml ...`).
{
  echo "# cargo --config $PREFIX/build-std.toml -Zbuild-std=std,panic_abort ... (RUSTC_BOOTSTRAP=1)"
  echo "# resolves std's dependencies from the packaged vendor directory, offline."
  vendor_config "$PREFIX/usr/src/$SRC_VERSION_DIR/library/vendor"
} >"$STAGE/build-std.toml"
cat >"$STAGE/env.sh" <<EOF
# . $PREFIX/env.sh   -- rustc-web $RUST_VER as \$CARGO / \$RUSTC
export CARGO="$PREFIX/bin/cargo" RUSTC="$PREFIX/bin/rustc"
EOF

# Smoke test before publishing: a plain build and an LTO + opt-level z + strip +
# panic=abort build of a std-using cdylib must link.
S="$STAGE/.smoke"
mkdir -p "$S/src"
cat >"$S/Cargo.toml" <<'EOF'
[package]
name = "smoke"
version = "0.0.0"
edition = "2021"
[lib]
crate-type = ["cdylib"]
[profile.small]
inherits = "release"
opt-level = "z"
lto = true
codegen-units = 1
panic = "abort"
strip = true
EOF
echo '#[no_mangle] pub extern "C" fn smoke(n: u32) -> u32 { format!("{n}").len() as u32 }' >"$S/src/lib.rs"
for profile in release small; do
  (cd "$S" && env -i PATH="$PATH" HOME="$HOME" CARGO_HOME="$S/cargo-home" RUSTC="$STAGE/bin/rustc" \
    CARGO_TARGET_DIR="$S/target" "$STAGE/bin/cargo" build -q --offline --profile "$profile" --target "$TARGET" >&2) \
    || die "smoke build ($profile) with the new sysroot failed"
  [ -s "$S/target/$TARGET/$profile/smoke.wasm" ] || die "smoke build ($profile) made no smoke.wasm"
done
rm -rf "$S"

cat >"$STAGE/auditor-toolchain.json" <<EOF
{
  "series": "$SERIES",
  "key": "$KEY",
  "recipe": $RECIPE,
  "rustc_commit": "$COMMIT",
  "packages": [$(printf '"%s",' "${PKGS[@]}" | sed 's/,$//')],
  "target": "$TARGET",
  "seconds": {"download": $T_DOWNLOAD, "unpack": $T_UNPACK, "std_build": $T_STD, "total": $((SECONDS - T0))}
}
EOF
rm -rf "$PREFIX"
mv -T "$STAGE" "$PREFIX"
trap - EXIT
ln -sfn "$(basename "$PREFIX")" "$CACHE/rust-$SERIES"
say "rustc-web $RUST_VER ready in $PREFIX: download ${T_DOWNLOAD}s, unpack ${T_UNPACK}s, std ${T_STD}s, total $((SECONDS - T0))s"
echo "$PREFIX"
