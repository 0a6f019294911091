#!/usr/bin/env bash
# Builds the sandbox image reuseport-pod/pause:<package version> from native/pause.Dockerfile and
# the static prebuilds/pause-linux-<engine's arch>, in a context holding just those two files (the
# same context and binary the launcher uses at run time). Idempotent: an unchanged binary hits the
# layer cache.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_docker
bin="$(engine_pause_binary)"

version="$(pkg_version)"
tag="reuseport-pod/pause:$version"
ctx="$(mktemp -d /tmp/reuseport-pod-pause.XXXXXX)"
trap 'rm -rf "$ctx"' EXIT
cp "$ROOT/native/pause.Dockerfile" "$ctx/Dockerfile"
cp "$bin" "$ctx/pause"
# The layer cache keys COPY on content and mode: pin the mode so an identical binary is a cache hit.
chmod 0755 "$ctx/pause"

docker_build_report "$tag" --build-arg "VERSION=$version" "$ctx"
# The one thing this image must do beyond sleeping; cheap, and catches a non-static binary.
out="$(docker run --rm --network none "$tag" --version)" || die "$tag does not run: $out"
say "$tag runs: $out"
