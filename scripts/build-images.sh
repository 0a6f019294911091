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

# Native: build/Release/pause and reuseport.node. node-gyp's make knows what is stale (about 0.5 s
# when nothing is); `node-gyp-build` alone would skip the compile as soon as the addon loads, even
# with pause missing or out of date.
pause_before="$(sha256sum build/Release/pause 2>/dev/null || true)"
if ! { { [ -f build/Makefile ] || npx --no-install node-gyp configure; } && npx --no-install node-gyp build; } >/tmp/reuseport-pod-node-gyp.log 2>&1; then
  tail -n 40 /tmp/reuseport-pod-node-gyp.log >&2
  die "native build failed (log: /tmp/reuseport-pod-node-gyp.log)"
fi
if [ "$pause_before" = "$(sha256sum build/Release/pause)" ]; then
  say "native: build/Release/pause up to date"
else
  say "native: built build/Release/pause ($(stat -c %s build/Release/pause) bytes) and reuseport.node"
fi

# The binaries the package ships (the addon for linux-x64/arm64, the static pause for both): the
# pause image is built from the one for the engine's architecture. Skipped when up to date.
"$ROOT/scripts/build-prebuilds.sh"

# TypeScript: dist/. Rebuilt when missing or older than any source.
if [ ! -e dist/examples/http-server.js ] || [ -n "$(find src examples tsconfig.json -newer dist/examples/http-server.js -name '*.ts' -o -newer dist/examples/http-server.js -name tsconfig.json 2>/dev/null | head -n1)" ]; then
  say "dist: compiling (npx tsc -p tsconfig.json)"
  # tsc still emits on type errors; the image only needs the JavaScript, and `npm test` reports
  # the type errors. Say so rather than stop the images from being built.
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
