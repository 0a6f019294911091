#!/usr/bin/env bash
# Builds the example app image reuseport-pod/example:<package version> from Dockerfile.app, on
# BASE_IMAGE (default: reuseport-pod/node-base:<host node major>, made by build-node-base.sh from the
# host's own node and glibc, which the host-built addon needs). Needs a built checkout (dist/ and
# build/Release/reuseport.node). Idempotent: unchanged inputs hit the layer cache.
#
#   BASE_IMAGE=node:20-bookworm-slim scripts/build-app-image.sh     # where a registry exists
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_docker
for f in dist/examples/http-server.js dist/src/index.js build/Release/reuseport.node node_modules/node-gyp-build/index.js; do
  [ -e "$ROOT/$f" ] || die "$f is missing: run npm ci && npm run build (or scripts/build-images.sh)"
done

major="$(node -p 'process.versions.node.split(".")[0]')"
base="${BASE_IMAGE:-reuseport-pod/node-base:$major}"
[ -n "$(image_id "$base")" ] || die "base image $base is not here: run scripts/build-node-base.sh (there is no registry to pull from)"
tag="reuseport-pod/example:$(pkg_version)"

# --pull is never given: the base image is local.
docker_build_report "$tag" -f "$ROOT/Dockerfile.app" --build-arg "BASE_IMAGE=$base" "$ROOT"
say "$tag is on $base"
