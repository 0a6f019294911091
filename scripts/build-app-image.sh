#!/usr/bin/env bash
# Builds the example app image reuseport-pod/example:<package version> with the CLI's own
# `reuseport-pod build` (the same code an installed package runs), on BASE_IMAGE (default:
# reuseport-pod/node-base:<host node major>, made by build-node-base.sh from the host's own node and
# glibc). Needs a built checkout (npm ci && npm run build: dist/ and the listener's prebuilds).
# Idempotent: unchanged inputs hit the layer cache, and the script says whether the tag moved.
#
#   BASE_IMAGE=node:20-bookworm-slim scripts/build-app-image.sh     # where a registry exists
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_docker
for f in dist/src/cli/main.js dist/examples/http-server.js packages/listener/dist/index.js; do
  [ -e "$ROOT/$f" ] || die "$f is missing: run npm ci && npm run build (or scripts/build-images.sh)"
done

major="$(node -p 'process.versions.node.split(".")[0]')"
base="${BASE_IMAGE:-reuseport-pod/node-base:$major}"
[ -n "$(image_id "$base")" ] || die "base image $base is not here: run scripts/build-node-base.sh (there is no registry to pull from)"
tag="reuseport-pod/example:$(pkg_version)"

before="$(image_id "$tag")"
# --base-image: the base is local, so nothing is pulled; --quiet keeps the build steps out of the log.
if ! out="$(node "$ROOT/bin/reuseport-pod.js" build --tag "$tag" --base-image "$base" --quiet 2>&1)"; then
  printf '%s\n' "$out" >&2
  die "reuseport-pod build of $tag failed"
fi
after="$(image_id "$tag")"
if [ -n "$before" ] && [ "$before" = "$after" ]; then
  say "$tag up to date (${after:7:12}, $(image_size "$tag")) on $base"
else
  say "built $tag (${after:7:12}, $(image_size "$tag")) on $base"
fi
