#!/usr/bin/env bash
# Starts (up) or stops (down) the tests' S3-protocol server: moto's S3 and STS on 127.0.0.1
# (scripts/s3_server.py, in the venv scripts/inspect-venv.sh makes). Idempotent, and quick when
# the server already answers; several test binaries may call `up` at once (a lock makes one
# server). `up` prints the environment a client needs, one NAME=value per line:
#
#   AWS_ENDPOINT_URL=http://127.0.0.1:PORT
#
# Usage: scripts/s3.sh up|down           (state in ${EXAMEN_S3_STATE:-/tmp/examen-s3})
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${EXAMEN_S3_STATE:-/tmp/examen-s3}"
STATE="$STATE_DIR/state.json"
mkdir -p "$STATE_DIR"

answers() {
  [ -f "$STATE" ] || return 1
  local endpoint
  endpoint="$(sed -n 's/.*"endpoint": *"\([^"]*\)".*/\1/p' "$STATE")"
  [ -n "$endpoint" ] && curl -fsS --max-time 2 "$endpoint/_examen/stats" >/dev/null 2>&1
}

print_env() {
  echo "AWS_ENDPOINT_URL=$(sed -n 's/.*"endpoint": *"\([^"]*\)".*/\1/p' "$STATE")"
}

case "${1:-}" in
  up)
    if answers; then print_env; exit 0; fi
    exec 9>"$STATE_DIR/lock"
    flock 9
    if answers; then print_env; exit 0; fi
    VPY="$("$ROOT/scripts/inspect-venv.sh")"
    rm -f "$STATE"
    nohup "$VPY" "$ROOT/scripts/s3_server.py" --port 0 --state "$STATE" \
      >"$STATE_DIR/server.log" 2>&1 9>&- &
    for _ in $(seq 1 300); do
      if answers; then print_env; exit 0; fi
      sleep 0.1
    done
    echo "s3.sh: the S3 server did not start; its log:" >&2
    cat "$STATE_DIR/server.log" >&2 || true
    exit 1
    ;;
  down)
    if [ -f "$STATE" ]; then
      pid="$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$STATE")"
      [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
      rm -f "$STATE"
    fi
    ;;
  *)
    echo "usage: scripts/s3.sh up|down" >&2
    exit 2
    ;;
esac
