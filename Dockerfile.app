# The example app image: examples/http-server.ts on the reuseport-pod listener library.
#
# Nothing is compiled in here (no image with a compiler is assumed): it copies what `npm run build`
# made on the host, so build first:
#   npm ci && npm run build            # dist/ and build/Release/reuseport.node
# With a registry (node:20-bookworm-slim's glibc matches the Debian 12 build of the addon):
#   docker build -f Dockerfile.app -t reuseport-pod/example:$(node -p "require('./package.json').version") .
# In CI / without a registry, on the local base image made from the host's own node and glibc
# (scripts/build-node-base.sh; scripts/build-images.sh does all of this):
#   DOCKER_BUILDKIT=0 docker build -f Dockerfile.app --build-arg BASE_IMAGE=reuseport-pod/node-base:20 \
#     -t reuseport-pod/example:<version> .
# .dockerignore keeps the context to exactly the files copied below.
ARG BASE_IMAGE=node:20-bookworm-slim
FROM ${BASE_IMAGE}
WORKDIR /app
# package.json carries "type": "module" (dist is ESM) and is where node-gyp-build starts looking.
# binding.gyp marks the package root for the addon loader (node-gyp-build searches from there).
COPY package.json binding.gyp ./
# The listener's one runtime dependency: it finds and loads build/Release/reuseport.node.
COPY node_modules/node-gyp-build/ node_modules/node-gyp-build/
COPY build/Release/reuseport.node build/Release/
COPY dist/src/ dist/src/
COPY dist/examples/ dist/examples/
# Every replica of a pod must run as the SAME user: the kernel only lets sockets of one effective
# UID share a port with SO_REUSEPORT. 1000 is `node` in both node:20-bookworm-slim and node-base.
USER 1000:1000
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
LABEL io.reuseport-pod.image="example"
# node as PID 1 is fine here: the app handles SIGTERM itself (drains, then exits 0).
CMD ["node", "dist/examples/http-server.js"]
