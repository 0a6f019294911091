# The reuseport-pod sandbox image: nothing but the static pause program (native/pause.c).
#
# The ONE definition of this image, used both by scripts/build-pause-image.sh and by the launcher
# when it builds the image at run time. The build context is exactly two files:
#   Dockerfile   this file's text
#   pause        prebuilds/pause-linux-<x64|arm64>, for the engine's architecture (static;
#                `npm run build:prebuilds` or `npm run build` makes them, the npm package ships them)
# Tag: reuseport-pod/pause:<version in package.json>, e.g.
#   docker build -t reuseport-pod/pause:0.1.0 --build-arg VERSION=0.1.0 <context dir>
FROM scratch
ARG VERSION=dev
COPY pause /pause
# Like Kubernetes' pause image: PID 1 needs no privilege; it holds the network namespace, which
# docker sets up (ports, sysctls) before this process starts. 65535 has no passwd entry; numeric is fine.
USER 65535:65535
LABEL io.reuseport-pod.image="sandbox" \
      io.reuseport-pod.version="${VERSION}"
# SIGTERM is docker's default stop signal; pause exits 0 on it at once.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/pause"]
