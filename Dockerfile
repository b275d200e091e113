# A self-contained image of lamport-ledger: dist/ compiled from src/, production dependencies
# only, and `client` on the PATH with the container's config and data dir as its defaults.
#
# Built from the host's `npm ci` output (node_modules/), so the build never reaches a registry:
# run `npm ci` first (the README's install step), then `docker compose up --build` or
#   docker build -t lamport-ledger .
#
# Works with the real node:20-slim and with the one .ci/docker-setup.sh imports on machines with
# no registry access (which holds node, npm, sh and coreutils, as the real one does).

FROM node:20-slim AS build
# Marks this stage's leftover images (the legacy builder keeps them untagged as a cache), so that
# .ci/docker-teardown.sh can remove them without touching anyone else's images.
LABEL org.lamport-ledger.stage=build
WORKDIR /app
# Nothing in the build may wait on a registry that may not be reachable.
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
COPY node_modules ./node_modules
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# Compile here rather than copy the host's dist/: the image always matches the sources it was
# built from, even when the host's dist/ is stale.
RUN ["npm", "run", "build"]
# Drop the dev dependencies (typescript, vitest, ...). --offline: prune only deletes.
RUN ["npm", "prune", "--omit=dev", "--offline", "--ignore-scripts"]

FROM node:20-slim
WORKDIR /app
# NODE_OPTIONS: the young generation client cluster gives its clients (src/cluster/spawner.ts).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=8 \
    LAMPORT_LEDGER_CONFIG=/app/config/docker.json \
    LAMPORT_LEDGER_DATA_DIR=/data
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config ./config
# The live view's page (client web), served as files.
COPY web ./web
# `client` as npm would link it on a global install; its `#!/usr/bin/env node` finds node.
RUN ["ln", "-s", "/app/bin/client.js", "/usr/local/bin/client"]
CMD ["client", "--help"]
