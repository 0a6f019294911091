#!/usr/bin/env bash
# Sets up this machine to build, demo and test reuseport-pod, and leaves a Docker engine running:
#   1. Debian packages that are missing: docker.io, docker-compose, busybox-static, wrk, iptables, nftables, a C/C++ toolchain,
#      the cross toolchain for the other architecture's prebuilds, qemu-user-static, file
#   2. dockerd, started in the background when no engine answers (log: $DOCKERD_LOG)
#   3. npm ci, Node 24 for the built-in reusePort tests (scripts/get-node24.sh), an arm64 Node (x64 hosts)
#   4. the build (addon, pause, TypeScript) and the local images (scripts/build-images.sh)
# Idempotent: a second run only checks (a few seconds). Needs root for steps 1 and 2 when they have
# work to do. .ci/run calls it with DOCKERD_PIDFILE set, to stop the dockerd it started afterwards.
set -euo pipefail
exec </dev/null
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
DOCKERD_LOG="${DOCKERD_LOG:-/tmp/reuseport-pod-dockerd.log}"
step() { printf '\n==> %s\n' "$*"; }
step_name="start"
trap 'rc=$?; [ "$rc" -eq 0 ] || echo "setup: failed during: $step_name (exit $rc)" >&2' EXIT
as_root() {
  [ "$(id -u)" -eq 0 ] || { echo "setup: $1 needs root: run sudo bash scripts/setup.sh" >&2; exit 1; }
}

# ---------------------------------------------------------------------------------------------
step_name="system packages"
step "system packages"
missing=()
{ command -v docker && command -v dockerd; } >/dev/null 2>&1 || missing+=(docker.io)
# node-base needs a *static* busybox (it goes into an image with no libraries of its own).
if ! { [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; }; then missing+=(busybox-static); fi
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
# test/export.ts runs the exported Compose file (Debian's docker-compose 1.29 speaks to any dockerd).
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
# The NAT helper image of --mode dnat pods is made from Debian's iptables-nft; the dnat test reads
# the host's rules with iptables-save and nft (it compares them before and after, never edits them).
command -v xtables-nft-multi >/dev/null 2>&1 || missing+=(iptables)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
# The addon (g++) and the static pause (gcc + libc.a from libc6-dev), built by node-gyp (python3).
{ command -v g++ && command -v gcc && command -v make && command -v python3; } >/dev/null 2>&1 || missing+=(build-essential python3)
dpkg -s libc6-dev >/dev/null 2>&1 || missing+=(libc6-dev)
# The package ships prebuilt binaries for x64 and arm64 (scripts/build-prebuilds.sh): the other
# architecture is cross-compiled, and test/prebuilds-arm64.ts runs the arm64 ones under qemu-user
# (file(1) tells what each binary is built for).
case "$(uname -m)" in
  x86_64)
    { command -v aarch64-linux-gnu-gcc && command -v aarch64-linux-gnu-g++; } >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu)
    for p in libc6-dev-arm64-cross libstdc++6-arm64-cross; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done ;;
  aarch64 | arm64)
    { command -v x86_64-linux-gnu-gcc && command -v x86_64-linux-gnu-g++; } >/dev/null 2>&1 || missing+=(gcc-x86-64-linux-gnu g++-x86-64-linux-gnu)
    dpkg -s libc6-dev-amd64-cross >/dev/null 2>&1 || missing+=(libc6-dev-amd64-cross) ;;
esac
command -v qemu-aarch64-static >/dev/null 2>&1 || missing+=(qemu-user-static)
command -v file >/dev/null 2>&1 || missing+=(file)
if [ "${#missing[@]}" -gt 0 ]; then
  as_root "installing ${missing[*]}"
  echo "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "all present: docker, dockerd, docker-compose, busybox (static), wrk, iptables, nftables, gcc/g++/make/python3, libc6-dev, cross toolchain, qemu-user-static, file"
fi
command -v node >/dev/null || { echo "node is not installed (the project needs Node >= 20)" >&2; exit 1; }
echo "node $(node --version), npm $(npm --version), $(docker --version)"

# ---------------------------------------------------------------------------------------------
step_name="Docker engine"
step "Docker engine"
if docker info >/dev/null 2>&1; then
  echo "an engine answers already: $(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}')"
else
  as_root "starting dockerd"
  echo "no engine answers: starting dockerd (log: $DOCKERD_LOG)"
  # setsid: its own process group, so a Ctrl-C meant for this script does not also hit dockerd
  # half-way through; we stop it ourselves.
  setsid dockerd >"$DOCKERD_LOG" 2>&1 &
  started_dockerd=$!
  [ -z "${DOCKERD_PIDFILE:-}" ] || echo "$started_dockerd" > "$DOCKERD_PIDFILE"
  for _ in $(seq 120); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$started_dockerd" 2>/dev/null || { tail -n 30 "$DOCKERD_LOG" >&2; echo "dockerd exited" >&2; exit 1; }
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { tail -n 30 "$DOCKERD_LOG" >&2; echo "dockerd did not answer within 60 s" >&2; exit 1; }
  echo "dockerd up (pid $started_dockerd): $(docker version --format 'server {{.Server.Version}}, API {{.Server.APIVersion}}')"
fi

# ---------------------------------------------------------------------------------------------
step_name="npm dependencies"
step "npm dependencies"
if [ -f package-lock.json ]; then npm ci; else npm install; fi

step_name="Node 24 (scripts/get-node24.sh)"
if [ -f scripts/get-node24.sh ]; then
  step "Node 24 (scripts/get-node24.sh)"
  sh scripts/get-node24.sh
fi

step_name="arm64 Node (scripts/get-node-arm64.sh)"
if [ "$(uname -m)" = x86_64 ]; then
  step "arm64 Node for the arm64 prebuild's test (scripts/get-node-arm64.sh)"
  sh scripts/get-node-arm64.sh
fi

step_name="images (scripts/build-images.sh)"
step "images (scripts/build-images.sh)"
bash scripts/build-images.sh
bash scripts/build-redis-image.sh   # the README's real-app example's database (Debian's redis, no registry)


step_name="done"
step "ready"
echo "next: npm run demo    (a pod of 3 on one port)"
echo "      npm test        (every test, on this dockerd)"
