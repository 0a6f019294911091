#!/usr/bin/env bash
# One command for CI and new users: builds what the images need, then the local images:
#   reuseport-pod/pause:<version>       the sandbox (FROM scratch + static pause)
#   reuseport-pod/nat:<version>         the NAT helper of --mode dnat pods (Debian's iptables-nft)
#   reuseport-pod/node-base:<major>     Node from this host's files (no registry here)
#   reuseport-pod/example:<version>     Dockerfile.app on node-base
#   reuseport-pod/busybox-httpd:<version>  a server without SO_REUSEPORT (dnat tests and benchmark)
# Each step says what it did; unchanged inputs make every step a no-op (about 2 s in all when warm).
#   BASE_IMAGE=node:20-bookworm-slim scripts/build-images.sh   # app on a registry image instead
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_docker
cd "$ROOT"

# Native: the listener's host build, packages/listener/build/Release/reuseport.node, which the
# tests load first. node-gyp's make knows what is stale (about 0.5 s when nothing is).
addon=packages/listener/build/Release/reuseport.node
addon_before="$(sha256sum "$addon" 2>/dev/null || true)"
if ! npm run --silent build:native >/tmp/reuseport-pod-node-gyp.log 2>&1; then
  tail -n 40 /tmp/reuseport-pod-node-gyp.log >&2
  die "native build failed (log: /tmp/reuseport-pod-node-gyp.log)"
fi
if [ "$addon_before" = "$(sha256sum "$addon")" ]; then
  say "native: $addon up to date"
else
  say "native: built $addon ($(stat -c %s "$addon") bytes)"
fi

# The binaries the packages ship (the listener's addon for linux-x64/arm64, the static pause for
# both): the pause and example images take the ones for the engine's architecture. Skipped when
# up to date.
"$ROOT/scripts/build-prebuilds.sh"

# TypeScript: packages/listener/dist/, then dist/ (whose types come from the listener's). Rebuilt
# when missing or older than any source.
stale() { # OUTPUT DIR... : OUTPUT is missing, or a .ts or tsconfig.json under DIR is newer
  local out="$1"; shift
  [ ! -e "$out" ] || [ -n "$(find "$@" -newer "$out" \( -name '*.ts' -o -name tsconfig.json \) 2>/dev/null | head -n1)" ]
}
# tsc still emits on type errors; the image only needs the JavaScript, and `npm test` reports
# the type errors. Say so rather than stop the images from being built.
if stale packages/listener/dist/index.js packages/listener/src packages/listener/tsconfig.json tsconfig.json; then
  say "listener dist: compiling (npx tsc -p packages/listener/tsconfig.json)"
  npx --no-install tsc -p packages/listener/tsconfig.json || say "listener dist: tsc reported errors (see above); JavaScript was emitted"
  [ -e packages/listener/dist/index.js ] || die "packages/listener/dist/index.js was not produced"
else
  say "listener dist: up to date"
fi
if stale dist/examples/http-server.js src examples tsconfig.json packages/listener/dist; then
  say "dist: compiling (npx tsc -p tsconfig.json)"
  npx --no-install tsc -p tsconfig.json || say "dist: tsc reported errors (see above); JavaScript was emitted"
  [ -e dist/examples/http-server.js ] || die "dist/examples/http-server.js was not produced"
else
  say "dist: up to date"
fi

"$ROOT/scripts/build-pause-image.sh"
"$ROOT/scripts/build-nat-image.sh"
"$ROOT/scripts/build-node-base.sh"
"$ROOT/scripts/build-app-image.sh"
"$ROOT/scripts/build-httpd-image.sh"
