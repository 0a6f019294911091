#!/usr/bin/env bash
# Sets up Podman next to dockerd so that reuseport-pod (and its tests) can talk to Podman through
# its Docker-compatible API:
#   1. Debian packages that are missing: podman, catatonit
#   2. a containers.conf with rlimits this kind of VM allows (rootful Podman's defaults exceed the
#      hard nofile limit, and there is no CAP_SYS_RESOURCE to raise it)
#   3. `podman system service` on a unix socket, started in the background when nothing answers
#      there (log: $PODMAN_LOG); its pid goes to $PODMAN_PIDFILE when set (.ci/run stops it)
#   4. the local images (scripts/build-images.sh builds them in dockerd; there is no registry)
#      copied into Podman with `docker save | podman load`, only those whose ID differs
# Idempotent: a second run only checks. Needs root. Prints the socket's DOCKER_HOST on its last line.
#
#   bash scripts/setup-podman.sh
#   DOCKER_HOST=unix:///run/reuseport-pod/podman.sock reuseport-pod info
set -euo pipefail
exec </dev/null
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

export DEBIAN_FRONTEND=noninteractive
PODMAN_DIR="${PODMAN_DIR:-/run/reuseport-pod}"
PODMAN_SOCK="${PODMAN_SOCK:-$PODMAN_DIR/podman.sock}"
PODMAN_LOG="${PODMAN_LOG:-/tmp/reuseport-pod-podman.log}"
# The images come from dockerd, whatever DOCKER_HOST says here (test/helpers/docker.ts: the same).
SOURCE_DOCKER_HOST="${REUSEPORT_POD_IMAGE_SOURCE:-unix:///var/run/docker.sock}"
export CONTAINERS_CONF="$PODMAN_DIR/containers.conf"

[ "$(id -u)" -eq 0 ] || die "needs root (rootful Podman, packages): run sudo bash scripts/setup-podman.sh"
podman_api() { DOCKER_HOST="unix://$PODMAN_SOCK" docker "$@"; }
from_docker() { DOCKER_HOST="$SOURCE_DOCKER_HOST" docker "$@"; }

# 1. ----------------------------------------------------------------------------------------------
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
# The pause program of `podman pod create`; not used by reuseport-pod, but Podman wants it around.
{ command -v catatonit || [ -x /usr/libexec/podman/catatonit ]; } >/dev/null 2>&1 || missing+=(catatonit)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing: ${missing[*]}"
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }
fi

# 2. ----------------------------------------------------------------------------------------------
mkdir -p "$PODMAN_DIR"
conf="$(cat <<'EOF'
# Written by reuseport-pod's scripts/setup-podman.sh; used through CONTAINERS_CONF.
# Rootful Podman raises every container's nofile/nproc to values above this VM's hard limits
# (no CAP_SYS_RESOURCE): container creation fails with "setrlimit ... operation not permitted".
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
EOF
)"
if [ "$(cat "$CONTAINERS_CONF" 2>/dev/null || true)" != "$conf" ]; then
  printf '%s\n' "$conf" >"$CONTAINERS_CONF"
  say "wrote $CONTAINERS_CONF"
fi
say "$(podman --version), CONTAINERS_CONF=$CONTAINERS_CONF"

# 3. ----------------------------------------------------------------------------------------------
if podman_api version >/dev/null 2>&1; then
  say "Podman's API answers already at unix://$PODMAN_SOCK"
else
  rm -f "$PODMAN_SOCK"
  # setsid: its own process group, so a Ctrl-C meant for this script does not stop the service.
  setsid podman system service --time=0 "unix://$PODMAN_SOCK" >"$PODMAN_LOG" 2>&1 &
  pid=$!
  [ -z "${PODMAN_PIDFILE:-}" ] || echo "$pid" >"$PODMAN_PIDFILE"
  for _ in $(seq 60); do
    podman_api version >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$PODMAN_LOG" >&2; die "podman system service exited"; }
    sleep 0.5
  done
  podman_api version >/dev/null 2>&1 || { tail -n 30 "$PODMAN_LOG" >&2; die "Podman's API did not answer within 30 s"; }
  say "started podman system service (pid $pid, log: $PODMAN_LOG)"
fi
say "Podman API: $(podman_api version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}')"

# 4. ----------------------------------------------------------------------------------------------
version="$(pkg_version)"
major="$(node -p 'process.versions.node.split(".")[0]')"
images=("reuseport-pod/pause:$version" "reuseport-pod/node-base:$major" "reuseport-pod/example:$version")
stale=()
for image in "${images[@]}"; do
  want="$(from_docker image inspect -f '{{.Id}}' "$image" 2>/dev/null)" || die "$image is not in dockerd: run scripts/build-images.sh first"
  # Podman keeps the ID (the config's digest) and names the image localhost/<name>.
  have="$(podman image inspect --format '{{.Id}}' "localhost/$image" 2>/dev/null || true)"
  [ "sha256:$have" = "$want" ] || [ "$have" = "$want" ] || stale+=("$image")
done
if [ "${#stale[@]}" -gt 0 ]; then
  from_docker save "${stale[@]}" | podman load -q >/dev/null
  say "loaded into Podman: ${stale[*]}"
else
  say "images up to date in Podman: ${images[*]}"
fi

# Both engines write iptables rules: check that each still runs a container with a published port.
for engine in from_docker podman_api; do
  out="$("$engine" run --rm -p 127.0.0.1::8080 "reuseport-pod/pause:$version" --version 2>&1)" || die "$engine cannot run a container with a published port: $out"
done
say "dockerd and Podman both run containers"
echo "DOCKER_HOST=unix://$PODMAN_SOCK"
