#!/usr/bin/env bash
# Volley's test command (README): installs what the tests need, then runs them all.
#
# - checks first: formatting, crate and file layering, and README's first command on a
#   toolchain without the wasm32-wasip2 target (scripts/check-fresh-toolchain.sh);
# - the wasm32-wasip2 target, for the guests the tests build from source
#   (scripts/build-guests.sh; it also checks the shipped scenarios in wasm/builtin/ are
#   what their sources build to);
# - the Python and JavaScript guest toolchains (scripts/guest-toolchains.sh);
# - llama.cpp's llama-server with SmolLM2-135M from ../shared/realserver (first time
#   ~12 min, then cached under ~/.cache/realserver), started on 127.0.0.1:8100;
# - NVIDIA Triton (PyTriton) on 127.0.0.1:18000 and KServe's ModelServer on :18080 from
#   ../shared/kservers (first time ~1.5 min, then cached under ~/.cache/kservers);
#   each real-server test stops its server when done;
# - coverage-guided fuzzing of the parsers that face servers and files, 20 s a target
#   (scripts/fuzz.sh; libFuzzer on the stable toolchain, nothing to install);
# - clippy over the workspace (warnings are errors), then `cargo test --release` over the
#   workspace's default members.
#
# CARGO_TARGET_DIR defaults to ~/.cache/volley/target so repeated runs (and CI on the
# same machine) build incrementally.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
SHARED="${VOLLEY_SHARED_DIR:-$ROOT/../shared}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/volley/target}"
export VOLLEY_SHARED_DIR="$SHARED"
PORT="${VOLLEY_LLAMA_PORT:-8100}"

log() { printf '[test %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  log "rustup target add wasm32-wasip2"
  rustup target add wasm32-wasip2
fi

for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    log "rustup component add $component"
    rustup component add "$component"
  fi
done
log "formatting (cargo fmt --check)"
cargo fmt --all --check
log "crate and file layering (scripts/check-layers.py)"
python3 scripts/check-layers.py

# Debian packages the tests use: chromium (the HTML report in a real browser),
# prometheus (scrapes the exposition endpoint), docker-registry (the CNCF
# distribution registry, for pushing and pulling scenario packages), nginx and openssl
# (a TLS proxy with a test CA in front of the simulator), buildah (the container image,
# built FROM scratch), postgresql (a throwaway cluster for the run store's tests).
# Slurm (slurm-wlm, munge) comes with ../shared/slurm/start.sh.
missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

log "guest toolchains (componentize-py, componentize-js; cached after the first time)"
eval "$(bash scripts/guest-toolchains.sh)"

log "setting up llama-server (../shared/realserver; cached after the first time)"
bash "$SHARED/realserver/setup.sh" llama-server
log "setting up Triton and KServe (../shared/kservers; cached after the first time)"
bash "$SHARED/kservers/setup.sh"

stop_all() {
  bash "$SHARED/realserver/stop.sh" "$PORT" >/dev/null 2>&1 || true
  bash "$SHARED/kservers/stop.sh" >/dev/null 2>&1 || true
  bash "$SHARED/slurm/stop.sh" >/dev/null 2>&1 || true
}
log "README's first command on a toolchain without wasm32-wasip2 (scripts/check-fresh-toolchain.sh)"
bash scripts/check-fresh-toolchain.sh
log "guests from source; the shipped ones against wasm/builtin/ (scripts/build-guests.sh --check)"
bash scripts/build-guests.sh --check >/dev/null
log "fuzzing the parsers of what servers and files send, 20 s a target (scripts/fuzz.sh, docs/fuzzing.md)"
bash scripts/fuzz.sh 20
log "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --quiet --workspace --all-targets -- -D warnings

log "unit tests of the guest crates that have them (not default members: built for the host here)"
cargo test --release --quiet -p slo-search
log "building the tests (before the servers start, so they do not wait through the build)"
cargo test --release --no-run "$@"

stop_all
# The tests stop their servers; make sure nothing is left behind if the run fails.
trap stop_all EXIT
log "starting llama-server on 127.0.0.1:$PORT"
bash "$SHARED/realserver/start.sh" "$PORT"
log "starting Triton on 127.0.0.1:18000 and KServe on 127.0.0.1:18080"
bash "$SHARED/kservers/start-triton.sh" 18000
bash "$SHARED/kservers/start-kserve.sh" 18080
log "starting a one-node Slurm (../shared/slurm; installs slurm-wlm and munge the first time)"
bash "$SHARED/slurm/start.sh" >/dev/null

log "cargo test --release"
cargo test --release "$@"
