# The example app image: examples/http-server.ts on the listener package, @reuseport-pod/listener.
#
# Nothing is compiled in here (no image with a compiler is assumed), and the build context is not
# this folder: `reuseport-pod build` lays it out in a temporary folder, from a checkout after
# `npm ci && npm run build` or from an installed reuseport-pod alike:
#   Dockerfile              this file
#   package.json            "type": "module" (dist/examples is ESM)
#   dist/examples/          the compiled examples
#   node_modules/@reuseport-pod/listener/   its package.json, binding.gyp, dist/*.js and the addon
#                           prebuilt for the engine's architecture (prebuilds/linux-<arch>/)
#   node_modules/node-gyp-build/            the listener's one dependency, which loads the addon
# The launcher's own code and dependencies (dist/src, dockerode, ...) are not in the image.
#   reuseport-pod build                                     # on node:20-bookworm-slim
#   reuseport-pod build --local-base                        # no registry: node from this machine
#   reuseport-pod build --base-image IMAGE -t NAME:TAG
ARG BASE_IMAGE=node:20-bookworm-slim
FROM ${BASE_IMAGE}
WORKDIR /app
COPY package.json ./
COPY node_modules/ node_modules/
COPY dist/examples/ dist/examples/
# Every replica of a pod must run as the SAME user: the kernel only lets sockets of one effective
# UID share a port with SO_REUSEPORT. 1000 is `node` in both node:20-bookworm-slim and node-base.
USER 1000:1000
ENV HOST=0.0.0.0 PORT=8080
EXPOSE 8080
LABEL io.reuseport-pod.image="example"
# node as PID 1 is fine here: the app handles SIGTERM itself (drains, then exits 0).
CMD ["node", "dist/examples/http-server.js"]
