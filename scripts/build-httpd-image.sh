#!/usr/bin/env bash
# Builds reuseport-pod/busybox-httpd:<package version>: a third-party server that knows nothing of
# SO_REUSEPORT (busybox httpd), for the DNAT mode's tests and benchmark. Each replica answers
# "Hello from $INSTANCE" on $PORT, like the example app. Made FROM nothing with `docker import`
# (no registry): Debian's busybox-static and a tiny entrypoint. (apt-get install -y busybox-static)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_docker
busybox="$(readlink -f "$(command -v busybox || echo /bin/busybox)")"
[ -x "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then die "$busybox is dynamically linked: install busybox-static"; fi

tag="reuseport-pod/busybox-httpd:$(pkg_version)"
fingerprint="$( { sha256sum < "$0"; sha256sum < "$busybox"; } | sha256sum | cut -c1-32)"
if image_inputs_current "$tag" "$fingerprint"; then
  say "$tag up to date ($(image_size "$tag"))"
  exit 0
fi

root="$(mktemp -d /tmp/reuseport-pod-httpd.XXXXXX)"
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"
mkdir -p "$root"/{bin,www,etc}
chmod 1777 "$root/www"
cp "$busybox" "$root/bin/busybox"
for applet in sh httpd echo kill; do ln -s busybox "$root/bin/$applet"; done
printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
# httpd as PID 1 would ignore SIGTERM (PID 1 gets no default signal actions), and `docker stop` would
# wait its full timeout: the shell stays PID 1, traps SIGTERM and passes it on.
cat > "$root/bin/serve" <<'SERVE'
#!/bin/sh
echo "Hello from ${INSTANCE:-httpd}" > /www/index.html
httpd -f -p "${PORT:-8080}" -h /www &
server=$!
trap 'kill -TERM "$server"; wait "$server"; exit 0' TERM INT
wait "$server"
SERVE
chmod 0755 "$root/bin/serve"

id="$(tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/bin' \
  --change 'CMD ["/bin/serve"]' \
  --change 'LABEL io.reuseport-pod.image="busybox-httpd"' \
  --change "LABEL io.reuseport-pod.inputs=\"$fingerprint\"" \
  --message "busybox httpd from $busybox" \
  - "$tag")"
say "built $tag (${id:7:12}, $(image_size "$tag"))"
