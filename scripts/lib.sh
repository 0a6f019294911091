# Shared by the scripts/build-*.sh scripts: sourced, not run.
# Paths, the package version, and a `say` that prefixes each line with the script's name so that
# CI logs show which step printed what.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SCRIPT_NAME="$(basename "$0")"

say() { printf '%s: %s\n' "$SCRIPT_NAME" "$*"; }
die() { printf '%s: error: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }

# The package version tags our images (reuseport-pod/pause:<version>, reuseport-pod/example:<version>).
pkg_version() { node -p "require('$ROOT/package.json').version"; }

# "sha256:abc…" of a local image, or nothing when it does not exist.
image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

# Human size of a local image, e.g. "812kB"; docker's own formatting.
image_size() { docker image ls --format '{{.Size}}' "$1" | head -n1; }

# The legacy builder: there is no buildx here (see /work/shared/docker-facts.md).
export DOCKER_BUILDKIT=0

# x64 or arm64, the name the prebuilds carry (prebuilds/pause-linux-<arch>), for the machine the
# engine runs containers on (`docker version`'s Server.Arch), which need not be this host's.
engine_prebuild_arch() {
  local engine_arch
  engine_arch="$(docker version --format '{{.Server.Arch}}')"
  case "$engine_arch" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "the engine runs containers on $engine_arch; there is a pause program for x86_64 and aarch64 only" ;;
  esac
}

# The static pause program for the engine's architecture; dies when it has not been built.
engine_pause_binary() {
  local arch bin
  arch="$(engine_prebuild_arch)"
  bin="$ROOT/prebuilds/pause-linux-$arch"
  [ -x "$bin" ] || die "$bin is missing: build it first (npm run build:prebuilds, or scripts/build-images.sh)"
  echo "$bin"
}

require_docker() {
  command -v docker >/dev/null || die "docker CLI not found (apt-get install docker.io)"
  docker info >/dev/null 2>&1 || die "no Docker engine answers (is dockerd running? try: docker info)"
}

# Builds with the legacy builder, quietly (layer cache makes a rebuild of unchanged inputs a no-op),
# then says whether the tag moved. Usage: docker_build_report TAG docker-build-args...
docker_build_report() {
  local tag="$1"; shift
  local before after out
  before="$(image_id "$tag")"
  if ! out="$(docker build -q -t "$tag" "$@" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "docker build of $tag failed"
  fi
  after="$(image_id "$tag")"
  if [ -n "$before" ] && [ "$before" = "$after" ]; then
    say "$tag up to date (${after:7:12}, $(image_size "$tag"))"
  else
    say "built $tag (${after:7:12}, $(image_size "$tag"))"
  fi
}

# Images made with `docker import` carry a hash of their inputs in the label io.reuseport-pod.inputs:
# the same inputs need no rebuild. Usage: if image_inputs_current TAG FINGERPRINT; then ... fi
image_inputs_current() {
  [ "$(docker image inspect -f '{{index .Config.Labels "io.reuseport-pod.inputs"}}' "$1" 2>/dev/null || true)" = "$2" ]
}
