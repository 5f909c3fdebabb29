# Not built in CI (no Docker engine there); kept simple and checked by reading.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY bench ./bench
COPY bin ./bin
COPY migrations ./migrations
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY migrations ./migrations
COPY config ./config
RUN useradd --system --home /var/lib/mail2sms mail2sms && mkdir -p /var/lib/mail2sms && chown mail2sms /var/lib/mail2sms
USER mail2sms
# Mount your own config at /etc/mail2sms (storage.path: /var/lib/mail2sms/mail2sms.db, listen on 0.0.0.0).
VOLUME ["/var/lib/mail2sms"]
EXPOSE 2525 8080
ENTRYPOINT ["node", "bin/mail2sms.js"]
CMD ["serve", "--config", "/etc/mail2sms/mail2sms.yaml"]
