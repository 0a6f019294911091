#!/usr/bin/env bash
# Makes the binaries the npm packages ship, so that installing them needs no compiler:
#   packages/listener/prebuilds/linux-x64/@reuseport-pod+listener.glibc.node    the addon
#   packages/listener/prebuilds/linux-arm64/@reuseport-pod+listener.glibc.node  (prebuildify,
#       Node-API: one build serves every Node version), shipped by @reuseport-pod/listener
#   prebuilds/pause-linux-x64, prebuilds/pause-linux-arm64  the sandbox's static PID 1, shipped by
#       reuseport-pod
# The architecture that is not this host's is cross-compiled with Debian's cross toolchains
# (gcc-aarch64-linux-gnu / g++-aarch64-linux-gnu + libc6-dev-arm64-cross on x64; scripts/setup.sh
# installs them). Skips the work when every output is newer than every input.
#
# prebuildify runs `node-gyp rebuild` in a scratch copy of the listener package, not in it: there
# build/Release holds the host build of `npm run build:native`, and an arm64 rebuild in place would
# leave an addon there that node-gyp-build loads first and this host cannot run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$ROOT"

ARCHES=(x64 arm64)
case "$(uname -m)" in
  x86_64) host=x64 ;;
  aarch64 | arm64) host=arm64 ;;
  *) die "no recipe for a $(uname -m) host; the prebuilds are made on x64 or arm64 Linux" ;;
esac
# The toolchain prefix that makes binaries for ARCH on this host ("" = the host's own gcc).
prefix() {
  if [ "$1" = "$host" ]; then echo ""; return; fi
  case "$1" in
    x64) echo x86_64-linux-gnu- ;;
    arm64) echo aarch64-linux-gnu- ;;
  esac
}

LISTENER=packages/listener
ADDON_NAME='@reuseport-pod+listener.glibc.node'   # prebuildify's name: the package name, / as +
outputs=()
for a in "${ARCHES[@]}"; do outputs+=("$LISTENER/prebuilds/linux-$a/$ADDON_NAME" "prebuilds/pause-linux-$a"); done
inputs=("$LISTENER/native/reuseport.cc" "$LISTENER/binding.gyp" "$LISTENER/package.json" native/pause.c scripts/build-prebuilds.sh node_modules/node-addon-api/package.json)
current=1
for o in "${outputs[@]}"; do
  if [ ! -f "$o" ] || [ -n "$(find "${inputs[@]}" -newer "$o" 2>/dev/null | head -n1)" ]; then current=0; break; fi
done
if [ "$current" = 1 ]; then say "prebuilds up to date (${ARCHES[*]})"; exit 0; fi

for a in "${ARCHES[@]}"; do
  p="$(prefix "$a")"
  for tool in "${p}gcc" "${p}g++" "${p}strip"; do
    command -v "$tool" >/dev/null || die "$tool not found: it builds the linux-$a binaries (apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross, or run scripts/setup.sh)"
  done
done

scratch="$(mktemp -d /tmp/reuseport-pod-prebuilds.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
cp -r "$LISTENER/binding.gyp" "$LISTENER/package.json" "$LISTENER/native" "$scratch/"
# binding.gyp finds node-addon-api's headers with require() from its own folder.
ln -s "$ROOT/node_modules" "$scratch/node_modules"
log="/tmp/reuseport-pod-prebuilds.log"
: > "$log"

for a in "${ARCHES[@]}"; do
  p="$(prefix "$a")"
  rm -rf "$LISTENER/prebuilds/linux-$a"
  # CC/CXX/LINK reach the Makefile node-gyp writes; --arch names the folder node-gyp-build looks
  # in and the headers' arch; --tag-libc keeps musl systems from loading this glibc build.
  if ! CC="${p}gcc" CXX="${p}g++" LINK="${p}g++" AR="${p}ar" \
      npx --no-install prebuildify --napi --strip --strip-bin "${p}strip" --tag-libc \
      --arch "$a" --cwd "$scratch" --out "$ROOT/$LISTENER" >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "prebuildify for linux-$a failed (log: $log)"
  fi
  # -static: the binary goes into a FROM-scratch image, with no libc beside it.
  mkdir -p prebuilds
  "${p}gcc" -Os -Wall -Wextra -static -s -o "prebuilds/pause-linux-$a.partial" native/pause.c >>"$log" 2>&1 \
    || { tail -n 30 "$log" >&2; die "static pause for linux-$a failed (log: $log)"; }
  mv "prebuilds/pause-linux-$a.partial" "prebuilds/pause-linux-$a"
  [ -f "$LISTENER/prebuilds/linux-$a/$ADDON_NAME" ] || die "prebuildify made $(ls "$LISTENER/prebuilds/linux-$a"), not $ADDON_NAME"
  say "linux-$a: $LISTENER/prebuilds/linux-$a/$ADDON_NAME ($(stat -c %s "$LISTENER/prebuilds/linux-$a/$ADDON_NAME") bytes), prebuilds/pause-linux-$a ($(stat -c %s prebuilds/pause-linux-$a) bytes)"
done
