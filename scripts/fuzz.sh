#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that face the network and foreign files
# (docs/fuzzing.md): builds the targets in fuzz/ with libFuzzer on the stable toolchain
# and runs each for SECONDS (default 20), one after another, starting from the corpus in
# fuzz/corpus/TARGET.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]        all targets when none is named
#
# Prints per target the executions, the coverage reached (libFuzzer's `cov:`, the
# instrumented edges covered, of the total in the binary; `ft:`, its finer features),
# the corpus size and the new inputs found. Fails if any target crashes, times out or
# runs out of memory: the input is kept and its path printed (replay it with
# `BINARY INPUT`). New corpus entries go to the work folder, not into the repository.
#
# Nothing to install: libfuzzer-sys builds libFuzzer from source (C++, ~1 min cold);
# the instrumented build is cached in $VOLLEY_FUZZ_TARGET_DIR (default
# $CARGO_TARGET_DIR/fuzz, i.e. ~/.cache/volley/target/fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

ALL=(h1_response sse openai_events grpc_frames report run_file package)
SECONDS_EACH="${1:-20}"
if [[ $# -gt 0 ]]; then shift; fi
TARGETS=("$@")
if [[ ${#TARGETS[@]} -eq 0 ]]; then TARGETS=("${ALL[@]}"); fi
if ! [[ "$SECONDS_EACH" =~ ^[0-9]+$ ]] || ((SECONDS_EACH < 1)); then
  echo "fuzz.sh: SECONDS must be a whole number of seconds, at least 1 (got '$SECONDS_EACH')" >&2
  exit 2
fi
for t in "${TARGETS[@]}"; do
  if [[ ! " ${ALL[*]} " == *" $t "* ]]; then
    echo "fuzz.sh: no target '$t' (targets: ${ALL[*]})" >&2
    exit 2
  fi
done

TARGET_DIR="${VOLLEY_FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$HOME/.cache/volley/target}/fuzz}"
WORK="${VOLLEY_FUZZ_WORK:-$TARGET_DIR/runs}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"

log() { printf '[fuzz %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# SanitizerCoverage as cargo-fuzz sets it, all stable `-C` flags: edge counters
# (inline 8-bit) with their PC table, comparisons traced (libFuzzer learns the
# constants a parser compares against), and the stack depth. No sanitizer: those need
# nightly's -Z flags; the parsers fuzzed have one `unsafe` block between them (an
# ASCII check before `from_utf8_unchecked`, engine/src/client/openai/repeat.rs).
# `--target` keeps the flags off build scripts and proc macros, which must not be
# instrumented (they would not link without libFuzzer).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing"

build_started=$SECONDS
log "building the fuzz targets (fuzz/, instrumented; cached in $TARGET_DIR)"
# The workspace's lock file, so the targets build against the versions Volley builds
# with (cargo drops what fuzz/ does not use and adds libFuzzer's crates).
cp Cargo.lock fuzz/Cargo.lock
cargo build --manifest-path fuzz/Cargo.toml --release --target "$TRIPLE" --target-dir "$TARGET_DIR" --bins
log "built in $((SECONDS - build_started)) s"

failed=()
printf '%-14s %8s %12s %10s %9s %8s %6s  %s\n' target seconds executions exec/s cov/edges ft corpus new
for t in "${TARGETS[@]}"; do
  bin="$TARGET_DIR/$TRIPLE/release/$t"
  seeds="$ROOT/fuzz/corpus/$t"
  found="$WORK/$t/corpus"
  artifacts="$WORK/$t/artifacts"
  mkdir -p "$seeds" "$found" "$artifacts"
  out="$WORK/$t/last.log"
  # New inputs go to the first folder (the work folder); the seeds are only read.
  # -timeout: one input taking 10 s is a finding; -malloc_limit_mb: one allocation
  # past 512 MiB from an input of at most 64 KiB (256 KiB for a package) is one too;
  # -rss_limit_mb the same.
  # A dictionary (fuzz/dict/TARGET.dict) gives the tokens a parser compares against.
  dict=()
  if [[ -f "$ROOT/fuzz/dict/$t.dict" ]]; then dict=(-dict="$ROOT/fuzz/dict/$t.dict"); fi
  # A real package (`volley pack builtin:burst`, the seed) is 147 KiB.
  max_len=65536
  if [[ $t == package ]]; then max_len=262144; fi
  rc=0
  "$bin" "$found" "$seeds" "${dict[@]}" -max_total_time="$SECONDS_EACH" -max_len="$max_len" -timeout=10 \
    -rss_limit_mb=1024 -malloc_limit_mb=512 -artifact_prefix="$artifacts/" \
    -print_final_stats=1 >"$out" 2>&1 || rc=$?
  total="$(sed -n 's/^INFO: Loaded [0-9]* modules *(\([0-9]*\) inline 8-bit counters).*/\1/p' "$out" | head -1)"
  last="$(grep -E '^#[0-9]+' "$out" | tail -1)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  corp="$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)"
  new="$(sed -n 's/^stat::new_units_added: *//p' "$out" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -1)"
  printf '%-14s %8s %12s %10s %9s %8s %6s  %s\n' "$t" "$SECONDS_EACH" "${execs:-?}" "${rate:-?}" "${cov:-?}/${total:-?}" "${ft:-?}" \
    "${corp:-?}" "${new:-?}"
  if ((rc != 0)); then
    failed+=("$t")
    unit="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$out" | tail -1)"
    echo "fuzz.sh: $t failed (exit $rc); its log: $out" >&2
    grep -E "panicked at|ERROR: libFuzzer|SUMMARY|out-of-memory|malloc\(|timeout" "$out" | head -8 >&2 || true
    [[ -n "$unit" ]] && echo "fuzz.sh: the input is kept in $unit (replay: $bin $unit)" >&2
  fi
done
if ((${#failed[@]})); then
  echo "fuzz.sh: ${#failed[@]} target(s) found a failure: ${failed[*]}" >&2
  exit 1
fi
log "no crash, timeout or memory blow-up in ${#TARGETS[@]} target(s), ${SECONDS_EACH} s each"
