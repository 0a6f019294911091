#!/usr/bin/env bash
# Method (b) of bench/launcher.mjs: a pod made by hand with the docker CLI, one `docker run` after
# another, with the same container options as the tool (sandbox: sysctl, cap-drop, read-only,
# no-new-privileges, restart policy; replicas: INSTANCE/PORT, stop timeout, restart policy).
# Ready = `docker exec <sandbox> /pause --listeners 8080` counts N (polled every 20 ms + exec time).
#
#   bench/launcher-sequential.sh create NAME HOSTPORT N     sandbox NAME-sandbox, replicas NAME-1..N
#   bench/launcher-sequential.sh rm NAME N                  one `docker rm -f` naming all of them
set -euo pipefail
sandbox_image="${SANDBOX_IMAGE:-reuseport-pod/pause:0.1.0}"
app_image="${APP_IMAGE:-reuseport-pod/example:0.1.0}"
cmd="$1" name="$2"
case "$cmd" in
create)
  port="$3" n="$4"
  docker run -d --name "$name-sandbox" --label io.reuseport-pod.bench=launcher \
    -p "127.0.0.1:$port:8080" --sysctl net.ipv4.tcp_migrate_req=1 \
    --cap-drop ALL --read-only --security-opt no-new-privileges --restart unless-stopped \
    "$sandbox_image" >/dev/null
  for i in $(seq 1 "$n"); do
    docker run -d --name "$name-$i" --label io.reuseport-pod.bench=launcher \
      --network "container:$name-sandbox" -e "INSTANCE=$name-$i" -e PORT=8080 \
      --stop-timeout 10 --security-opt no-new-privileges --restart unless-stopped \
      "$app_image" >/dev/null
  done
  deadline=$((SECONDS + 60))
  while :; do
    got="$(docker exec "$name-sandbox" /pause --listeners 8080 2>/dev/null || echo 0)"
    [ "$got" -ge "$n" ] && break
    [ "$SECONDS" -lt "$deadline" ] || { echo "launcher-sequential: only $got of $n listeners after 60 s" >&2; exit 1; }
    sleep 0.02
  done
  ;;
rm)
  n="$3"
  names=()
  for i in $(seq 1 "$n"); do names+=("$name-$i"); done
  docker rm -f "${names[@]}" "$name-sandbox" >/dev/null
  ;;
*) echo "usage: $0 create NAME HOSTPORT N | rm NAME N" >&2; exit 2 ;;
esac
