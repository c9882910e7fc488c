#!/usr/bin/env bash
# README's first command (`cargo run --release -p volley -- demo`) on a Rust toolchain
# without the `wasm32-wasip2` target, as a fresh machine with only rustup's stable
# toolchain has it, and a check that the demo wrote its report.
#
# The toolchain is this machine's own, copied as hard links (no disk, no download) minus
# the wasm32 standard library, and used directly (PATH and RUSTC), so rustup's state is
# untouched. The test command runs this before it adds the target it needs for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
log() { printf '[fresh] %s\n' "$*" >&2; }

sysroot="$(rustc --print sysroot)"
bare="$CARGO_TARGET_DIR/toolchain-without-wasm32"
rm -rf "$bare"
mkdir -p "$(dirname "$bare")"
# Hard links need one file system; a copy is the fallback.
cp -al "$sysroot" "$bare" 2>/dev/null || { rm -rf "$bare"; cp -a "$sysroot" "$bare"; }
rm -rf "$bare"/lib/rustlib/wasm32-* "$bare"/lib/rustlib/manifest-rust-std-wasm32-*
libdir="$("$bare/bin/rustc" --print target-libdir --target wasm32-wasip2)"
if [ -e "$libdir" ]; then
  log "the copied toolchain still has $libdir"
  exit 1
fi
log "toolchain $("$bare/bin/rustc" -V) without the wasm32-wasip2 target: cargo run --release -p volley -- demo"

out="$(mktemp -d)"
trap 'rm -rf "$out" "$bare"' EXIT
# The demo runs in an empty folder, so the report it writes (results/demo-…) is the one
# looked for.
manifest="$ROOT/Cargo.toml"
(cd "$out" && PATH="$bare/bin:$PATH" RUSTC="$bare/bin/rustc" RUSTDOC="$bare/bin/rustdoc" \
  "$bare/bin/cargo" run --quiet --release --manifest-path "$manifest" -p volley -- demo >"$out/demo.txt")
report="$(find "$out/results" -name report.json | head -n 1)"
if [ -z "$report" ]; then
  log "the demo wrote no report.json"
  cat "$out/demo.txt" >&2
  exit 1
fi
log "the demo wrote $(basename "$(dirname "$report")")/report.json ($(wc -c <"$report") bytes)"
