# Builds the homeserver from this repository:
#   docker build -t matrix-homeserver .
#   docker run -d --name matrix -p 8008:8008 -p 8448:8448 -v matrix-data:/data matrix-homeserver
# The image's default config (deploy/config.docker.yaml) listens on all
# addresses inside the container and keeps everything under /data; mount your
# own at /config/config.yaml to change it. See docs/ADMIN.md "Docker".

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
# The lock file points one test-only dependency at a stub inside the repository.
COPY test/stubs ./test/stubs
COPY src ./src
# npm ci also compiles src/ to dist/ (the `prepare` script); then the
# development dependencies go.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
COPY scripts/register-user.mjs ./scripts/register-user.mjs
COPY deploy/config.docker.yaml /config/config.yaml
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 8008 8448
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD node -e "fetch('http://127.0.0.1:8008/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# --max-semi-space-size: see docs/PERFORMANCE.md ("Young-generation size"), as npm start uses it.
CMD ["node", "--max-semi-space-size=32", "dist/main.js", "--config", "/config/config.yaml"]
