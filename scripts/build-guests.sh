#!/usr/bin/env bash
# Builds every guest component from source for wasm32-wasip2, reproducibly, and prints
# the folder that holds them (one file per cargo package, named as cargo names it:
# `fault-late` is `fault_late.wasm`).
#
#   scripts/build-guests.sh            build (scenarios/ and tests/guests/); print the folder
#   scripts/build-guests.sh --check    also compare the shipped scenarios with the committed
#                                      artifacts in wasm/builtin/ (exit 1 on a difference)
#   scripts/build-guests.sh --update   also copy the shipped scenarios into wasm/builtin/
#                                      and rewrite wasm/builtin/SHA256SUMS and BUILT-WITH
#
# Why artifacts: the `volley` binary embeds the shipped scenarios, and building them needs
# the `wasm32-wasip2` target, which a machine with only rustup's stable toolchain lacks
# (rustup does not add rust-toolchain.toml's targets to a toolchain already installed). So
# the components are committed, verified by digest when they are embedded, and this script
# (run by the test command) proves they are what their sources build to. Needs the target:
# `rustup target add wasm32-wasip2`.
#
# Reproducible: paths are remapped (the checkout's and cargo's home), the guest profile is
# stripped, and the toolchain is recorded in BUILT-WITH; the same sources and toolchain give
# the same bytes wherever the repository is cloned.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
MODE="${1:-build}"
case "$MODE" in build | --check | --update) ;; *)
  echo "usage: scripts/build-guests.sh [--check | --update]" >&2
  exit 2
  ;;
esac

TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$TARGET_DIR/guests"
CARGO_HOME_DIR="${CARGO_HOME:-$HOME/.cargo}"
log() { printf '[guests] %s\n' "$*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  log "the wasm32-wasip2 target is not installed: rustup target add wasm32-wasip2"
  exit 1
fi

# Every guest is a cargo package whose folder has its name.
builtins=()
for manifest in scenarios/*/Cargo.toml; do builtins+=("$(basename "$(dirname "$manifest")")"); done
test_guests=()
for manifest in tests/guests/*/Cargo.toml; do test_guests+=("$(basename "$(dirname "$manifest")")"); done

packages=()
for p in "${builtins[@]}" "${test_guests[@]}"; do packages+=(-p "$p"); done

log "building ${#builtins[@]} scenarios and ${#test_guests[@]} test guests for wasm32-wasip2"
# RUSTFLAGS reach only the wasm32 artifacts (a --target build keeps them off build scripts).
# The outer cargo's variables (when a build script or test calls this) must not leak in.
env -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS -u CARGO_TARGET_DIR -u CARGO_BUILD_TARGET \
  -u RUSTC_WORKSPACE_WRAPPER -u RUSTC_WRAPPER \
  RUSTFLAGS="--remap-path-prefix=$ROOT=/volley --remap-path-prefix=$CARGO_HOME_DIR=/cargo" \
  cargo build --quiet --locked --profile guest --target wasm32-wasip2 --target-dir "$OUT/cargo" "${packages[@]}" >&2

mkdir -p "$OUT/components"
component() { echo "$OUT/components/${1//-/_}.wasm"; }
for p in "${builtins[@]}" "${test_guests[@]}"; do
  built="$OUT/cargo/wasm32-wasip2/guest/${p//-/_}.wasm"
  [ -f "$built" ] || { log "the build did not produce $built"; exit 1; }
  # Copied only when changed, so a test that holds a path sees a stable file.
  cmp -s "$built" "$(component "$p")" 2>/dev/null || cp "$built" "$(component "$p")"
done
# Nothing else in the folder: a guest that was removed or renamed leaves no file behind.
for f in "$OUT/components"/*.wasm; do
  name="$(basename "$f" .wasm)"
  keep=0
  for p in "${builtins[@]}" "${test_guests[@]}"; do [ "${p//-/_}" = "$name" ] && keep=1; done
  [ "$keep" = 1 ] || rm -f "$f"
done

built_with() { rustc -V; }

case "$MODE" in
--update)
  mkdir -p wasm/builtin
  rm -f wasm/builtin/*.wasm
  for p in "${builtins[@]}"; do cp "$(component "$p")" "wasm/builtin/$p.wasm"; done
  (cd wasm/builtin && sha256sum -- *.wasm >SHA256SUMS)
  built_with >wasm/builtin/BUILT-WITH
  log "updated wasm/builtin/ (${#builtins[@]} components, $(built_with))"
  ;;
--check)
  if [ "$(built_with)" != "$(cat wasm/builtin/BUILT-WITH)" ]; then
    log "wasm/builtin/ was built with $(cat wasm/builtin/BUILT-WITH); this is $(built_with): the digests can differ for that alone"
  fi
  status=0
  committed=$(cd wasm/builtin && ls -- *.wasm | sort)
  expected=$(for p in "${builtins[@]}"; do echo "$p.wasm"; done | sort)
  if [ "$committed" != "$expected" ]; then
    log "wasm/builtin/ holds [$(echo $committed)] but scenarios/ has [$(echo $expected)]"
    status=1
  fi
  for p in "${builtins[@]}"; do
    if ! cmp -s "$(component "$p")" "wasm/builtin/$p.wasm"; then
      log "wasm/builtin/$p.wasm is not what scenarios/$p builds to: run scripts/build-guests.sh --update and commit it"
      status=1
    fi
  done
  if ! (cd wasm/builtin && sha256sum --quiet --check SHA256SUMS >&2); then
    log "wasm/builtin/SHA256SUMS does not match the components: run scripts/build-guests.sh --update"
    status=1
  fi
  [ "$status" = 0 ] && log "wasm/builtin/ matches its sources (${#builtins[@]} components)"
  [ "$status" = 0 ] || exit 1
  ;;
esac
echo "$OUT/components"
