# Production image. No Docker engine on the CI machine: its steps are replayed
# in a throwaway directory instead (docs/operations.md, "Docker": what was verified).
FROM node:24-bookworm-slim AS build
WORKDIR /app
# No compiler: better-sqlite3 13 ships Node-API binaries for linux x64/arm64 (glibc and musl) in its package.
COPY package.json package-lock.json tsconfig.json tsconfig.prod.json ./
COPY scripts ./scripts
COPY src ./src
COPY bin ./bin
COPY migrations ./migrations
# The production install: prepare builds dist/ (src/ only) with the compiler, which is a regular dependency.
RUN npm ci --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production MAIL2SMS_CONFIG=/etc/mail2sms/mail2sms.yaml
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY migrations ./migrations
COPY config ./config
# The container example (clients from the bridge network); mount your own over /etc/mail2sms.
COPY contrib/docker/mail2sms.yaml /etc/mail2sms/mail2sms.yaml
COPY contrib/docker/setups /etc/mail2sms/setups
RUN useradd --system --home /var/lib/mail2sms mail2sms && mkdir -p /var/lib/mail2sms && chown mail2sms:mail2sms /var/lib/mail2sms && chmod 0750 /var/lib/mail2sms
USER mail2sms
WORKDIR /var/lib/mail2sms
VOLUME ["/var/lib/mail2sms"]
EXPOSE 2525 8080
# Node's fetch, as the slim image has no curl; http.listen is 0.0.0.0:8080 in the container config.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM needs up to 10 s (SMTP grace) + dispatch.shutdown_timeout (10 s): run with
# `docker stop -t 30` / compose `stop_grace_period: 30s` (Docker's default is 10 s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/bin/mail2sms.js"]
CMD ["serve"]
