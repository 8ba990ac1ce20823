#!/usr/bin/env bash
# A private Docker daemon for examen's docker-sandbox tests, and the image they use.
#
#   scripts/docker.sh up     install what is missing, start dockerd on a private socket if it
#                            is not answering, build the image examen-sandbox:bookworm if absent,
#                            then print DOCKER_HOST=unix://... on stdout
#   scripts/docker.sh down   stop that daemon (and the containerd it started)
#
# The daemon is the project's own, not the machine's: its socket, data, exec root, pidfile and
# log live under $EXAMEN_DOCKER_STATE (default /tmp/examen-docker), and it runs with no default
# bridge and no iptables/NAT rules (--bridge=none --iptables=false --ip-masq=false), so it adds
# no network of its own to the machine; sandboxes use `network_mode: none`.
#
# Idempotent, and safe when several test processes call it at once: everything after the fast
# path runs under one flock, so one caller starts or builds and the others wait and then find
# it done.
set -euo pipefail

STATE="${EXAMEN_DOCKER_STATE:-/tmp/examen-docker}"
SOCK="$STATE/docker.sock"
PIDFILE="$STATE/dockerd.pid"
LOG="$STATE/dockerd.log"
IMAGE="${EXAMEN_DOCKER_IMAGE:-examen-sandbox:bookworm}"
# Debian's CLI, of the daemon's own version: a newer CLI elsewhere on PATH may ask for an API
# version the 20.10 daemon does not speak.
DOCKER=/usr/bin/docker
[ -x "$DOCKER" ] || DOCKER="$(command -v docker || true)"

log() { echo "docker.sh: $*" >&2; }

answering() {
  [ -S "$SOCK" ] && DOCKER_HOST="unix://$SOCK" "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

image_present() {
  DOCKER_HOST="unix://$SOCK" "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1
}

install_missing() {
  local missing=()
  [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
  command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      log "missing ${missing[*]} and not root: cannot install them"
      exit 1
    fi
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    DOCKER=/usr/bin/docker
  fi
}

start_daemon() {
  if [ "$(id -u)" != 0 ]; then
    log "dockerd must be started as root"
    exit 1
  fi
  mkdir -p "$STATE/data" "$STATE/exec"
  # A daemon that died leaves its pidfile and socket; dockerd refuses to start over the pidfile.
  if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    rm -f "$PIDFILE" "$SOCK"
  fi
  if [ ! -f "$PIDFILE" ]; then
    log "starting dockerd on $SOCK (log: $LOG)"
    # setsid: the daemon must outlive the test process that happened to start it.
    setsid /usr/sbin/dockerd \
      --host "unix://$SOCK" \
      --data-root "$STATE/data" \
      --exec-root "$STATE/exec" \
      --pidfile "$PIDFILE" \
      --bridge=none --iptables=false --ip-masq=false --ip6tables=false \
      </dev/null >>"$LOG" 2>&1 9>&- &
  fi
  for _ in $(seq 300); do
    answering && return 0
    sleep 0.1
  done
  log "dockerd did not answer on $SOCK within 30 s; the end of $LOG:"
  tail -n 20 "$LOG" >&2 || true
  exit 1
}

build_image() {
  log "building $IMAGE (mmdebstrap minbase bookworm + python3)"
  # minbase has bash and coreutils (`timeout`); python3 is what tools expect to find.
  mmdebstrap --quiet --variant=minbase --include=python3,bash,coreutils bookworm - \
    | DOCKER_HOST="unix://$SOCK" "$DOCKER" import - "$IMAGE" >/dev/null
}

up() {
  if answering && image_present; then
    echo "DOCKER_HOST=unix://$SOCK"
    return 0
  fi
  mkdir -p "$STATE"
  exec 9>"$STATE/lock"
  flock 9
  install_missing
  answering || start_daemon
  image_present || build_image
  echo "DOCKER_HOST=unix://$SOCK"
}

down() {
  mkdir -p "$STATE"
  exec 9>"$STATE/lock"
  flock 9
  [ -f "$PIDFILE" ] || return 0
  local pid
  pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping dockerd ($pid)"
    kill -TERM "$pid"
    # dockerd stops its containers (1 s grace in examen's compose files) and its containerd.
    for _ in $(seq 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "dockerd ($pid) still running after 30 s; killing it"
      kill -KILL "$pid" || true
    fi
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *)
    echo "usage: $0 up|down" >&2
    exit 2
    ;;
esac
