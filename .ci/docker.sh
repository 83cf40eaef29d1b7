# Sourced by .ci/run: a Docker engine for the docker tests, started by hand (there is no systemd).
#
# docker_up installs Debian's docker.io and debootstrap when missing, starts dockerd in the
# background unless a daemon already answers, waits for it, and builds Ramp's base image offline
# (debootstrap + docker import; skipped when the image exists). It never fails the CI run: when the
# daemon cannot start, it prints why, and the docker tests skip with that reason while everything
# else runs. docker_down stops the dockerd this script started, by its PID, and nothing else.

RAMP_DOCKERD_PID=""
RAMP_DOCKERD_LOG="${TMPDIR:-/tmp}/ramp-ci-dockerd.log"

docker_up() {
  local started=$SECONDS
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    if ! { apt-get update -qq && apt-get install -y -qq docker.io debootstrap >/dev/null; }; then
      echo "docker: could not install docker.io and debootstrap; docker tests will be skipped"
      return 0
    fi
  fi
  if ! docker_answers; then
    # A daemon killed earlier leaves its pid file, and a new one refuses to start over it.
    local stale
    stale=$(cat /var/run/docker.pid 2>/dev/null || true)
    if [ -n "$stale" ] && ! kill -0 "$stale" 2>/dev/null; then rm -f /var/run/docker.pid; fi
    dockerd >"$RAMP_DOCKERD_LOG" 2>&1 &
    RAMP_DOCKERD_PID=$!
    for _ in $(seq 1 60); do
      docker_answers && break
      kill -0 "$RAMP_DOCKERD_PID" 2>/dev/null || break
      sleep 1
    done
    if ! docker_answers; then
      echo "docker: dockerd did not start; docker tests will be skipped. Its log ends with:"
      tail -n 5 "$RAMP_DOCKERD_LOG" | sed 's/^/  /'
      docker_down
      return 0
    fi
    echo "docker: started dockerd (pid $RAMP_DOCKERD_PID) in $((SECONDS - started)) s"
  fi
  local building=$SECONDS
  if ! python -m engine.docker.base; then
    echo "docker: the base image could not be built; docker tests will be skipped"
  fi
  echo "docker: ready in $((SECONDS - started)) s (base image step $((SECONDS - building)) s)"
}

docker_answers() {
  python -c "from engine.docker.client import connect; connect(timeout=5)" >/dev/null 2>&1
}

docker_down() {
  if [ -n "$RAMP_DOCKERD_PID" ] && kill -0 "$RAMP_DOCKERD_PID" 2>/dev/null; then
    kill -TERM "$RAMP_DOCKERD_PID"
    for _ in $(seq 1 30); do kill -0 "$RAMP_DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    if kill -0 "$RAMP_DOCKERD_PID" 2>/dev/null; then kill -KILL "$RAMP_DOCKERD_PID"; fi
    echo "docker: stopped dockerd (pid $RAMP_DOCKERD_PID)"
  fi
  RAMP_DOCKERD_PID=""
}
