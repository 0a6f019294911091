#!/usr/bin/env bash
# Builds reuseport-pod/node-base:<node major>, a Node.js image made from THIS host's files, because
# there is no registry to pull node:20-bookworm-slim from. The listener's addon, prebuilt on this
# host (packages/listener/prebuilds), is linked against the host's glibc and libstdc++, and this
# image carries the host's, so they always match.
#
#   scripts/build-node-base.sh [path/to/node]     (default: the `node` on PATH)
#
# Contents: node (symlinks resolved) at /usr/local/bin/node, every library `ldd` lists plus the
# dynamic loader at the paths ldd prints, /etc/passwd+group with root, node (1000:1000) and nobody,
# /home/node, /tmp (1777), busybox-static as /bin/sh and a few applets for debugging.
# Idempotent: a fingerprint of every input is stored as a label; an image with the same
# fingerprint is left alone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_docker
node_bin="$(readlink -f "${1:-$(command -v node || true)}")"
[ -x "$node_bin" ] || die "no node binary (${1:-node on PATH})"
busybox="$(readlink -f "$(command -v busybox || echo /bin/busybox)")"
[ -x "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
# A dynamically linked busybox would need its own libraries; Debian's busybox-static is not.
if ldd "$busybox" >/dev/null 2>&1; then die "$busybox is dynamically linked: install busybox-static"; fi

node_version="$("$node_bin" -p process.version)"   # v20.20.2
major="${node_version#v}"; major="${major%%.*}"
tag="reuseport-pod/node-base:$major"

# Shared objects node needs: "name => /path (addr)" lines and the loader's "/path (addr)" line;
# linux-vdso has no file. Paths stay as ldd prints them (the loader's path is baked into node).
mapfile -t libs < <(ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[ "${#libs[@]}" -gt 0 ] || die "ldd found no libraries for $node_bin (static node? then none are needed, but check)"

# Everything that goes into the image, hashed: this script, the binaries, the libraries.
# Contents only (sha256sum < file), plus the in-image path where the path matters (the libraries).
fingerprint="$( { sha256sum < "$0"; sha256sum < "$node_bin"; sha256sum < "$busybox"
                  for l in "${libs[@]}"; do printf '%s ' "$l"; sha256sum < "$l"; done; } | sha256sum | cut -c1-32)"
if image_inputs_current "$tag" "$fingerprint"; then
  say "$tag up to date (node $node_version, $(image_size "$tag"))"
  exit 0
fi

root="$(mktemp -d /tmp/reuseport-pod-node-base.XXXXXX)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{usr/local/bin,bin,etc,root,home/node,tmp}
chmod 0755 "$root"          # mktemp made it 0700; it becomes the image's /
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
chown 1000:1000 "$root/home/node"

cp "$node_bin" "$root/usr/local/bin/node"
for l in "${libs[@]}"; do
  mkdir -p "$root$(dirname "$l")"
  cp -L "$l" "$root$l"        # -L: the file a soname symlink points at, under the soname
done

cp "$busybox" "$root/bin/busybox"
for applet in sh ash cat cp echo env grep id kill ln ls mkdir mv nc netstat ps pwd rm sed sleep top wget; do
  ln -s busybox "$root/bin/$applet"
done

cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:node:/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
node:x:1000:
nogroup:x:65534:
GROUP
# glibc's built-in defaults would also do; being explicit keeps DNS and user lookups predictable.
cat > "$root/etc/nsswitch.conf" <<'NSS'
passwd: files
group:  files
hosts:  files dns
NSS

# --numeric-owner keeps 1000:1000 on /home/node whatever the host's passwd says.
id="$(tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change "ENV NODE_VERSION=${node_version#v}" \
  --change 'WORKDIR /' \
  --change 'CMD ["node"]' \
  --change 'LABEL io.reuseport-pod.image="node-base"' \
  --change "LABEL io.reuseport-pod.inputs=\"$fingerprint\"" \
  --message "reuseport-pod node-base from host $node_bin ($node_version)" \
  - "$tag")"

got="$(docker run --rm --network none "$tag" node -e 'console.log(process.version)')" || die "$tag: node does not run"
[ "$got" = "$node_version" ] || die "$tag: node says $got, expected $node_version"
got_user="$(docker run --rm --network none --user node "$tag" node -e 'const u=require("os").userInfo();console.log(u.username+":"+u.uid+" "+u.homedir)')" \
  || die "$tag: node does not run as user node"
say "built $tag (${id:7:12}, $(image_size "$tag")): node $got from $node_bin, ${#libs[@]} libraries, user $got_user"
