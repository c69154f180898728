# GoVault: one image for every service and job. The container's command is one word,
# read by the dispatcher (server/launcher/src/image/main.ts):
#   gateway | auth | upload | files       run that service
#   keys | create-bucket | smoke          one-shot jobs
#   healthcheck [URL]                     what HEALTHCHECK below runs
# Build: docker build -t govault .

# --- build: the web app (Vite) into web/dist; only its workspace and the root's tsx ---
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY web/package.json web/
RUN npm ci --include-workspace-root -w web --no-audit --no-fund
COPY web/ web/
RUN npm run build -w web

# --- runtime: production dependencies of the servers and the CLI (smoke uploads with it) ---
FROM node:20-bookworm-slim AS runtime
# tini as PID 1: forwards SIGTERM to node (graceful shutdown) and reaps zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production HOST=0.0.0.0 DATA_DIR=/data
WORKDIR /app

# Manifests first, so that a source change does not reinstall the dependencies.
COPY package.json package-lock.json tsconfig.json ./
COPY server/lib/package.json server/lib/
COPY server/auth/package.json server/auth/
COPY server/files/package.json server/files/
COPY server/upload/package.json server/upload/
COPY server/gateway/package.json server/gateway/
COPY server/launcher/package.json server/launcher/
COPY cli/package.json cli/
RUN npm ci --omit=dev --include-workspace-root -w server/lib -w server/auth -w server/files -w server/upload -w server/gateway -w server/launcher -w cli --no-audit --no-fund \
 && npm cache clean --force

COPY server/ server/
COPY cli/ cli/
COPY migrations/ migrations/
COPY --from=build /app/web/dist web/dist

# `govault-image <word>` for healthchecks and `docker exec` (compose's healthcheck tests call it too).
RUN printf '#!/bin/sh\ncd /app && exec node --import tsx /app/server/launcher/src/image/main.ts "$@"\n' > /usr/local/bin/govault-image \
 && chmod 755 /usr/local/bin/govault-image \
 && mkdir -p /data /keys \
 && chown node:node /data /keys
# /keys is owned by node so that a fresh named volume mounted there is writable by the keys job.

USER node
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--import", "tsx", "/app/server/launcher/src/image/main.ts"]
# The dispatcher probes the /healthz of the service it started (a one-shot job is healthy).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["govault-image", "healthcheck"]
