#!/usr/bin/env bash
# Builds reuseport-pod/bench-nginx:<version> for bench/datapath.mjs: Debian's nginx binary, the
# libraries `ldd` lists, bench/nginx/nginx.conf (the default) and nginx-no-upstream-keepalive.conf
# (run with `-c /etc/nginx/nginx-no-upstream-keepalive.conf`), imported FROM nothing (there is no registry to
# pull nginx from). Made the way scripts/build-node-base.sh makes node-base.
#
#   bench/nginx/build-image.sh        prints the tag on its last line
#
# The .deb is fetched with `apt-get download` and unpacked with `dpkg-deb -x`: nothing is
# installed on the host, so no nginx service is started on it. Idempotent: a fingerprint of the
# inputs is a label, and an image with the same fingerprint is left alone.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../../scripts/lib.sh"

require_docker
work="$(mktemp -d /tmp/bench-nginx.XXXXXX)"
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"

# apt-get download writes into the current directory; `apt-get update` only if the lists are missing.
(cd "$work" && { apt-get download nginx >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download nginx >/dev/null 2>&1; }; }) \
  || die "apt-get download nginx failed"
deb="$(ls "$work"/nginx_*.deb)"
version="$(dpkg-deb -f "$deb" Version)"        # 1.22.1-9+deb12u11
tag="reuseport-pod/bench-nginx:${version%%-*}"
mkdir "$work/deb"
dpkg-deb -x "$deb" "$work/deb"
nginx="$work/deb/usr/sbin/nginx"
[ -x "$nginx" ] || die "no usr/sbin/nginx in $deb"

mapfile -t libs < <(ldd "$nginx" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
if ldd "$nginx" | grep -q 'not found'; then die "nginx needs libraries this host lacks: $(ldd "$nginx" | grep 'not found' | tr -s ' \t' ' ')"; fi

fingerprint="$( { sha256sum < "$0"; sha256sum < "$here/nginx.conf"; sha256sum < "$here/nginx-no-upstream-keepalive.conf"; sha256sum < "$nginx"
                  for l in "${libs[@]}"; do printf '%s ' "$l"; sha256sum < "$l"; done; } | sha256sum | cut -c1-32)"
current="$(docker image inspect -f '{{index .Config.Labels "io.reuseport-pod.inputs"}}' "$tag" 2>/dev/null || true)"
if [ "$current" = "$fingerprint" ]; then
  say "$tag up to date (nginx $version)"
  echo "$tag"
  exit 0
fi

root="$work/root"
mkdir -p "$root"/{usr/sbin,etc/nginx,tmp,run,var/log/nginx,var/lib/nginx,var/lock}
chmod 0755 "$root"
chmod 1777 "$root/tmp"
cp "$nginx" "$root/usr/sbin/nginx"
for l in "${libs[@]}"; do
  mkdir -p "$root$(dirname "$l")"
  cp -L "$l" "$root$l"
done
cp "$here/nginx.conf" "$here/nginx-no-upstream-keepalive.conf" "$root/etc/nginx/"
printf 'root:x:0:0:root:/root:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
printf 'passwd: files\ngroup:  files\nhosts:  files dns\n' > "$root/etc/nsswitch.conf"

id="$(tar -C "$root" --numeric-owner -c . | docker import \
  --change 'CMD ["/usr/sbin/nginx", "-g", "daemon off;"]' \
  --change 'EXPOSE 8080' \
  --change 'LABEL io.reuseport-pod.image="bench-nginx"' \
  --change "LABEL io.reuseport-pod.inputs=\"$fingerprint\"" \
  --message "nginx $version from Debian's .deb, for bench/datapath.mjs" \
  - "$tag")"
got="$(docker run --rm --network none "$tag" /usr/sbin/nginx -v 2>&1)" || die "$tag: nginx does not run: $got"
say "built $tag (${id:7:12}, $(image_size "$tag")): $got"
echo "$tag"
