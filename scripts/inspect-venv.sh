#!/usr/bin/env bash
# Creates the Python venv used by examen's Inspect compatibility tests: .venv in the
# repository root with the pinned inspect-ai and the provider SDKs its `openai` and
# `anthropic` providers need (the agent cross-check runs Inspect against examen's mock
# server in both wire formats). Idempotent and quick when the venv already has the pinned
# versions. Prints the venv's python path on success.
#
# Usage: scripts/inspect-venv.sh            (PYTHON=python3.11 to pick the interpreter)
set -euo pipefail

PIN_VERSION="0.3.285"
# Inspect 0.3.285 needs openai >= 3.4.0 and anthropic >= 2.0.0 (model/_providers/providers.py).
# moto (server mode) is the tests' S3-protocol server (scripts/s3.sh); s3fs and aiobotocore are
# what Inspect's own S3 layer reads and writes with.
PINS=("inspect-ai==$PIN_VERSION" "openai==3.57.0" "anthropic==2.16.0" "moto[server]==5.2.6" "s3fs==2026.6.0" "aiobotocore==3.10.0")
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${EXAMEN_INSPECT_VENV:-$ROOT/.venv}"
VPY="$VENV/bin/python"

installed() {
  "$VPY" - "${PINS[@]}" <<'PY' 2>/dev/null
import importlib.metadata as m, sys
# A pin may name extras (`moto[server]==...`): the version is the distribution's.
sys.exit(0 if all(m.version(p.split("==")[0].split("[")[0]) == p.split("==")[1] for p in sys.argv[1:]) else 1)
PY
}

if [ -x "$VPY" ] && installed; then
  echo "$VPY"
  exit 0
fi

# Tests for both backends (and several test binaries) may call this at once on a fresh clone:
# one installs, the others wait for it and then take the fast path.
exec 9>"$VENV.lock"
flock 9
if [ -x "$VPY" ] && installed; then
  echo "$VPY"
  exit 0
fi

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "inspect-venv: $PYTHON not found; install Python >= 3.10 or set PYTHON" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "inspect-venv: $PYTHON is older than 3.10, which inspect-ai $PIN_VERSION requires" >&2
  exit 1
fi

if [ ! -x "$VPY" ]; then
  echo "inspect-venv: creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
echo "inspect-venv: installing ${PINS[*]} into $VENV" >&2
"$VPY" -m pip install --quiet --disable-pip-version-check --no-input "${PINS[@]}" >&2
installed || { echo "inspect-venv: ${PINS[*]} did not install" >&2; exit 1; }
echo "$VPY"
