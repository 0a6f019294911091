#!/usr/bin/env bash
# Builds reuseport-pod/nat:<package version>, the helper a DNAT pod (create --mode dnat) runs for a
# moment inside its sandbox's network namespace to write the balancing rules. No registry here, so
# like node-base it is made FROM nothing with `docker import`: Debian's iptables-nft
# (xtables-nft-multi, the same backend Debian's own iptables uses), its extensions and the libraries
# ldd lists, busybox-static for the small entrypoint native/nat-rules.sh, and the static pause for
# the engine's architecture, prebuilds/pause-linux-<arch> (its --accepts probe, for sandboxes made
# from an older pause image).
# Idempotent: a fingerprint of every input is stored as a label; an image with the same fingerprint
# is left alone.   (apt-get install -y iptables busybox-static when missing)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_docker
multi="$(readlink -f "$(command -v xtables-nft-multi || echo /usr/sbin/xtables-nft-multi)")"
[ -x "$multi" ] || die "xtables-nft-multi not found (apt-get install iptables)"
busybox="$(readlink -f "$(command -v busybox || echo /bin/busybox)")"
[ -x "$busybox" ] || die "busybox not found (apt-get install busybox-static)"
if ldd "$busybox" >/dev/null 2>&1; then die "$busybox is dynamically linked: install busybox-static"; fi
# The match and target extensions (statistic, DNAT, MASQUERADE, tcp) are shared objects loaded by path.
xtdir="$(readlink -f "$(dirname "$(ldd "$multi" | awk '$1 ~ /^libxtables/ { print $3 }')")/xtables")"
[ -f "$xtdir/libxt_statistic.so" ] || die "iptables extensions not found in $xtdir"
entry="$ROOT/native/nat-rules.sh"
# The same static pause the sandbox image carries: the one for the engine's architecture.
pause="$(engine_pause_binary)"

tag="reuseport-pod/nat:$(pkg_version)"
mapfile -t libs < <({ ldd "$multi"; for so in "$xtdir"/*.so; do ldd "$so"; done; } | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)

fingerprint="$( { sha256sum < "$0"; sha256sum < "$multi"; sha256sum < "$busybox"; sha256sum < "$entry"; sha256sum < "$pause"
                  for l in "${libs[@]}" "$xtdir"/*.so; do printf '%s ' "$l"; sha256sum < "$l"; done; } | sha256sum | cut -c1-32)"
if image_inputs_current "$tag" "$fingerprint"; then
  say "$tag up to date ($(image_size "$tag"))"
  exit 0
fi

root="$(mktemp -d /tmp/reuseport-pod-nat.XXXXXX)"
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"
mkdir -p "$root"/{usr/sbin,bin,etc,tmp,run} "$root$xtdir"
chmod 1777 "$root/tmp"
cp "$multi" "$root/usr/sbin/xtables-nft-multi"
# xtables-nft-multi picks its personality from argv[0].
for tool in iptables iptables-restore iptables-save; do ln -s xtables-nft-multi "$root/usr/sbin/$tool"; done
cp "$xtdir"/*.so "$root$xtdir/"
for l in "${libs[@]}"; do
  mkdir -p "$root$(dirname "$l")"
  cp -L "$l" "$root$l"
done
cp "$busybox" "$root/bin/busybox"
for applet in sh grep cat; do ln -s busybox "$root/bin/$applet"; done
install -m 0755 "$entry" "$root/bin/nat-rules"
install -m 0755 "$pause" "$root/bin/pause"
[ -f /etc/protocols ] && cp /etc/protocols "$root/etc/protocols"
printf 'root:x:0:0:root:/:/bin/sh\n' > "$root/etc/passwd"

id="$(tar -C "$root" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/sbin:/bin' \
  --change "ENV XTABLES_LIBDIR=$xtdir" \
  --change 'ENTRYPOINT ["/bin/nat-rules"]' \
  --change 'LABEL io.reuseport-pod.image="nat"' \
  --change "LABEL io.reuseport-pod.inputs=\"$fingerprint\"" \
  --message "reuseport-pod nat helper: $multi ($(iptables --version 2>/dev/null || echo iptables))" \
  - "$tag")"

# Runs in a throwaway namespace of its own (--network none) with NET_ADMIN: lists no pod rules.
docker run --rm --network none --cap-drop ALL --cap-add NET_ADMIN "$tag" show >/dev/null || die "$tag does not run"
say "built $tag (${id:7:12}, $(image_size "$tag")): $(docker run --rm --network none --entrypoint iptables "$tag" --version)"
