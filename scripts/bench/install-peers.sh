#!/usr/bin/env bash
# Installs the peer load generators into their own virtual environments (idempotent;
# cached under ~/.cache/volley/peers): guidellm 0.8.1 (Python 3.11, pulls in torch),
# inference-perf 0.7.0 and aiperf 0.13.0 (Python >= 3.12, from pyenv), and Debian's
# nginx and wrk. See ../shared/peers/NOTES.md for how each runs offline here.
set -euo pipefail
DIR="${VOLLEY_PEERS:-$HOME/.cache/volley/peers}"
mkdir -p "$DIR"
log() { printf '[peers %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

py312() {
  # pyenv's shims answer `command -v` even when the version is not selected: run it.
  for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3 python3.12 python3.13; do
    if "$c" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then echo "$c"; return; fi
  done
  echo "no Python >= 3.12 found (inference-perf and aiperf need it)" >&2
  return 1
}

install() { # name python spec
  local name=$1 python=$2 spec=$3
  if [ -f "$DIR/$name/.installed" ] && grep -qx "$spec" "$DIR/$name/.installed"; then return; fi
  log "installing $spec into $DIR/$name (first time only)"
  rm -rf "${DIR:?}/$name"
  "$python" -m venv "$DIR/$name"
  "$DIR/$name/bin/pip" install -q "$spec" >&2
  echo "$spec" > "$DIR/$name/.installed"
}

install guidellm python3 "guidellm==0.8.1" &
p1=$!
PY312="$(py312)"
install inference-perf "$PY312" "inference-perf==0.7.0" &
p2=$!
install aiperf "$PY312" "aiperf==0.13.0" &
p3=$!
failed=0
for p in $p1 $p2 $p3; do wait "$p" || failed=1; done
if [ "$failed" = 1 ]; then log "a peer failed to install (see above)"; exit 1; fi
log "peers ready in $DIR"
