#!/usr/bin/env bash
# Builds reuseport-pod/redis:<upstream version> (e.g. reuseport-pod/redis:7.0.15), the database of the
# README's "real app" example and of test/e2e-real-app.ts: Debian's redis-server binary, the
# libraries `ldd` lists, a static busybox as /bin/sh for the entrypoint, imported FROM nothing (there
# is no registry to pull redis:7 from). Made the way bench/nginx/build-image.sh makes its nginx.
#
#   scripts/build-redis-image.sh        prints the tag on its last line
#
# Run it with the password, never without:
#   docker run -d --name redis -e REDIS_PASSWORD=s3cret reuseport-pod/redis:7.0.15
#   docker run -d --name redis --env-file secrets.env reuseport-pod/redis:7.0.15   # REDIS_PASSWORD=...
# The entrypoint writes `requirepass` into a config file at start (not onto the command line, where
# `ps` in the container would show it) and execs redis-server, so redis is PID 1 and saves and exits
# on SIGTERM. Without REDIS_PASSWORD it refuses to start: a database reachable on a network with no
# password is the mistake this image should not make easy. Extra arguments go to redis-server
# (`... reuseport-pod/redis:7.0.15 --maxmemory 64mb`). Data in /data (mount a volume there to keep it).
#
# The .debs are fetched with `apt-get download` and unpacked with `dpkg-deb -x`: nothing is installed
# on the host, so no redis service starts on it. Idempotent: a fingerprint of the inputs is a label,
# and an image with the same fingerprint is left alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"

require_docker
# The entrypoint's shell; setup.sh installs busybox-static for node-base already.
busybox=/bin/busybox
{ [ -x "$busybox" ] && ! ldd "$busybox" >/dev/null 2>&1; } || die "$busybox is missing or not static: apt-get install busybox-static"

work="$(mktemp -d /tmp/reuseport-pod-redis.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# apt's _apt user must be able to write here, else apt-get download warns and runs unsandboxed.
chmod 0755 "$work"

# redis-server is only a symlink to redis-tools' binary (it picks its role by its argv[0]); jemalloc
# and lzf are the two libraries a Debian host without redis usually lacks. The rest (libc, libssl3,
# libsystemd0, libatomic1) come from the host, as ldd finds them; a missing one stops the build below.
debs=(redis-server redis-tools libjemalloc2 liblzf1)
(cd "$work" && { apt-get download "${debs[@]}" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download "${debs[@]}" >/dev/null 2>&1; }; }) \
  || die "apt-get download ${debs[*]} failed (no Debian/Ubuntu apt sources here?)"
deb="$(ls "$work"/redis-server_*.deb)"
version="$(dpkg-deb -f "$deb" Version)"        # 5:7.0.15-1~deb12u10
upstream="${version#*:}"; upstream="${upstream%%-*}"   # 7.0.15
tag="reuseport-pod/redis:$upstream"
mkdir "$work/deb"
for d in "$work"/*.deb; do dpkg-deb -x "$d" "$work/deb"; done
server="$work/deb/usr/bin/redis-check-rdb"
cli="$work/deb/usr/bin/redis-cli"
[ -x "$server" ] && [ -x "$cli" ] || die "no usr/bin/redis-check-rdb or redis-cli in the redis-tools .deb"

# The libraries of both binaries: the unpacked ones first (LD_LIBRARY_PATH), then the host's.
# ldd heads each binary's list with "path:", which is not a library.
deblibs="$(find "$work/deb" -name '*.so*' -printf '%h\n' | sort -u | paste -sd: -)"
lddout="$(LD_LIBRARY_PATH="$deblibs" ldd "$server" "$cli")"
if grep -q 'not found' <<<"$lddout"; then die "redis needs libraries this host lacks: $(grep 'not found' <<<"$lddout" | sort -u | tr -s ' \t\n' ' ')"; fi
mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' <<<"$lddout" | sort -u)

entrypoint="$work/redis-entrypoint"
cat > "$entrypoint" <<'EOF'
#!/bin/sh
# reuseport-pod/redis's entrypoint (scripts/build-redis-image.sh): requirepass from REDIS_PASSWORD.
set -eu
if [ -z "${REDIS_PASSWORD:-}" ]; then
  echo "redis: REDIS_PASSWORD is not set: run with -e REDIS_PASSWORD=... or --env-file FILE (a line REDIS_PASSWORD=...)" >&2
  exit 2
fi
# In redis.conf a double-quoted value takes \" and \\ escapes: any password survives the trip.
escaped="$(printf '%s' "$REDIS_PASSWORD" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
umask 077
{
  echo 'bind * -::*'
  echo 'port 6379'
  echo 'dir /data'
  echo "requirepass \"$escaped\""
} > /run/redis/redis.conf
exec /usr/bin/redis-server /run/redis/redis.conf "$@"
EOF

fingerprint="$( { sha256sum < "$0"; sha256sum < "$busybox"; sha256sum < "$server"; sha256sum < "$cli"
                  for l in "${libs[@]}"; do printf '%s ' "${l#"$work/deb"}"; sha256sum < "$l"; done; } | sha256sum | cut -c1-32)"
if image_inputs_current "$tag" "$fingerprint"; then
  say "$tag up to date (redis $version)"
  echo "$tag"
  exit 0
fi

root="$work/root"
mkdir -p "$root"/{bin,usr/bin,usr/local/bin,etc,tmp,data,run/redis}
chmod 0755 "$root"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in sh sed cat ls ps echo printf; do ln -s busybox "$root/bin/$applet"; done
# A copy under the server's own name: redis runs as the server unless argv[0] says check-rdb/aof.
cp "$server" "$root/usr/bin/redis-server"
cp "$cli" "$root/usr/bin/redis-cli"
cp "$entrypoint" "$root/usr/local/bin/redis-entrypoint"
chmod 0755 "$root/usr/local/bin/redis-entrypoint"
for l in "${libs[@]}"; do
  src="$l"
  case "$l" in "$work/deb"/*) l="${l#"$work/deb"}" ;; esac
  mkdir -p "$root$(dirname "$l")"
  cp -L "$src" "$root$l"
done
# 999 is the redis user of the official image too: a volume made by one works with the other.
printf 'root:x:0:0:root:/root:/bin/false\nredis:x:999:999:redis:/data:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nredis:x:999:\nnogroup:x:65534:\n' > "$root/etc/group"
printf 'passwd: files\ngroup:  files\nhosts:  files dns\n' > "$root/etc/nsswitch.conf"

# Everything root's, but /data and /run/redis the redis user's (docker import cannot chown, and a
# build step on top would need a chown in the image): two passes of tar into one archive.
tar -C "$root" --numeric-owner --owner=0 --group=0 --exclude=./data --exclude=./run/redis -cf "$work/rootfs.tar" .
tar -C "$root" --numeric-owner --owner=999 --group=999 -rf "$work/rootfs.tar" ./data ./run/redis
id="$(docker import \
  --change 'ENTRYPOINT ["/usr/local/bin/redis-entrypoint"]' \
  --change 'USER 999:999' \
  --change 'WORKDIR /data' \
  --change 'EXPOSE 6379' \
  --change 'LABEL io.reuseport-pod.image="redis"' \
  --change "LABEL io.reuseport-pod.inputs=\"$fingerprint\"" \
  --message "redis $version from Debian's .debs, for the real-app example" \
  "$work/rootfs.tar" "$tag")"
got="$(docker run --rm --network none --entrypoint /usr/bin/redis-server "$tag" --version 2>&1)" || die "$tag: redis-server does not run: $got"
say "built $tag (${id:7:12}, $(image_size "$tag")): ${got%% sha=*}"
echo "$tag"
