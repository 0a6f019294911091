#!/usr/bin/env bash
# One command for CI and new users: builds what the images need, then all three local images:
#   reuseport-pod/pause:<version>       the sandbox (FROM scratch + static pause)
#   reuseport-pod/node-base:<major>     Node from this host's files (no registry here)
#   reuseport-pod/example:<version>     Dockerfile.app on node-base
# Each step says what it did; unchanged inputs make every step a no-op (about 2 s in all when warm).
#   BASE_IMAGE=node:20-bookworm-slim scripts/build-images.sh   # app on a registry image instead
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_docker
cd "$ROOT"

# Native: build/Release/pause and reuseport.node. `npm run build` alone would not do here:
# node-gyp-build skips the compile as soon as the addon loads, even if pause is missing or stale.
native_srcs=(binding.gyp native/pause.c native/reuseport.cc)
if [ ! -x build/Release/pause ] || [ ! -e build/Release/reuseport.node ] || [ ! -e build/Makefile ]; then
  say "native: building (npx node-gyp rebuild)"
  npx --no-install node-gyp rebuild >/tmp/reuseport-pod-node-gyp.log 2>&1 \
    || { tail -n 40 /tmp/reuseport-pod-node-gyp.log >&2; die "node-gyp rebuild failed (log: /tmp/reuseport-pod-node-gyp.log)"; }
elif [ -n "$(find "${native_srcs[@]}" -newer build/Release/pause 2>/dev/null)" ] \
  || [ -n "$(find "${native_srcs[@]}" -newer build/Release/reuseport.node 2>/dev/null)" ]; then
  say "native: sources changed, rebuilding (npx node-gyp build)"
  npx --no-install node-gyp build >/tmp/reuseport-pod-node-gyp.log 2>&1 \
    || { tail -n 40 /tmp/reuseport-pod-node-gyp.log >&2; die "node-gyp build failed (log: /tmp/reuseport-pod-node-gyp.log)"; }
else
  say "native: build/Release/pause and reuseport.node are up to date"
fi

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
"$ROOT/scripts/build-node-base.sh"
"$ROOT/scripts/build-app-image.sh"
