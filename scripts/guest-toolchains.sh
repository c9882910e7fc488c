#!/usr/bin/env bash
# Installs the guest toolchains for scenarios in Python and JavaScript (idempotent;
# cached under ~/.cache/volley/toolchains):
# - componentize-py 0.25.1 (PyPI) in its own virtual environment;
# - componentize-js 0.23.0 (npm; `jco componentize` does not work offline here, the
#   componentize-js CLI does).
# Prints, on stdout, the variables the tests and `volley new` build scripts read, as
# shell that `eval` runs (progress goes to stderr):
#   export COMPONENTIZE_PY='…'
#   export COMPONENTIZE_JS='…'
# so `eval "$(scripts/guest-toolchains.sh)"` puts them in the current shell. The build
# scripts also find the tools in this folder without the variables.
# VOLLEY_TOOLCHAINS moves the folder.
set -euo pipefail
DIR="${VOLLEY_TOOLCHAINS:-$HOME/.cache/volley/toolchains}"
PY_VERSION=0.25.1
JS_VERSION=0.23.0
mkdir -p "$DIR"

log() { printf '[toolchains] %s\n' "$*" >&2; }

if ! "$DIR/py/bin/componentize-py" --version 2>/dev/null | grep -q "$PY_VERSION"; then
  log "installing componentize-py $PY_VERSION into $DIR/py"
  python3 -m venv "$DIR/py"
  "$DIR/py/bin/pip" install -q "componentize-py==$PY_VERSION" >&2
fi

if [ ! -x "$DIR/js/node_modules/.bin/componentize-js" ] \
   || ! grep -q "\"version\": \"$JS_VERSION\"" "$DIR/js/node_modules/@bytecodealliance/componentize-js/package.json"; then
  log "installing componentize-js $JS_VERSION into $DIR/js"
  mkdir -p "$DIR/js"
  (cd "$DIR/js" && { [ -f package.json ] || echo '{"private": true}' > package.json; } \
    && npm install --no-audit --no-fund --silent "@bytecodealliance/componentize-js@$JS_VERSION" >&2)
fi

# `export KEY='VALUE'`, with any quote in VALUE escaped, so eval reads back the path as is.
emit() {
  local quoted="${2//\'/\'\\\'\'}"
  printf "export %s='%s'\n" "$1" "$quoted"
}
emit COMPONENTIZE_PY "$DIR/py/bin/componentize-py"
emit COMPONENTIZE_JS "$DIR/js/node_modules/.bin/componentize-js"
