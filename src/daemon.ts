import { rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from './core/clock.js';
import type { Config } from './config/load.js';
import { createReloader, type ReloadResult } from './config/reload.js';
import type { Logger } from './core/log.js';
import { startLedgerThread } from './ledger/thread.js';
import { watchLedgerFile } from './ledger/file-guard.js';
import { StorageError } from './core/errors.js';
import { openPostgresLedger } from './ledger/postgres/open.js';
import type { SendGuard } from './ledger/postgres/ledger.js';
import { describeTarget } from './ledger/postgres/pool.js';
import type { PgSession } from './ledger/postgres/session.js';
import { createClaimPolicy } from './dispatch/claim-policy.js';
import { openDatabase } from './ledger/db.js';
import { purgePostgres } from './ledger/postgres/purge.js';
import { purgeSqlite, type PurgeReport } from './ledger/purge.js';
import type { Ledger } from './ledger/types.js';
import { createHttpApi, INBOUND_PATH, RECEIPTS_PATH } from './http/server.js';
import { createProviderSimulator, type ProviderSimulator } from './simulator/server.js';
import { createProvider } from './providers/index.js';
import { createDispatcher, type Dispatcher } from './dispatch/worker.js';
import { createSmtpIntake, type SmtpIntake } from './smtp/server.js';
import { SHUTDOWN_GRACE_MS } from './smtp/shutdown.js';
import { formatListen } from './core/units.js';
import { assertNotRunning } from './core/instance.js';
import type { DnsResolver } from './smtp/sender-auth.js';
import { createMetrics } from './core/metrics.js';
import { sendJson } from './core/httpkit.js';
import { createOptOutGate } from './consent/gate.js';
import { createInboundHandler } from './inbound/handler.js';
import { authorizeSends, createSendsEndpoint } from './http/sends-api.js';
import { createContactsEndpoint } from './http/contacts-api.js';
import { createConsole, CONSOLE_PREFIX } from './http/console/console.js';
import type { DaemonStatus } from './http/console/page-types.js';
import { createRecentTally, tallying } from './core/recent.js';
import { createRelay, type Relay } from './notify/relay.js';
import { createReporter } from './notify/reporter.js';
import { createReplyForwarder } from './notify/reply-forwarder.js';

export function pidFileFor(config: Config): string {
  return join(config.stateDir, 'mail2sms.pid');
}

function storageLabel(config: Config): string {
  return config.storage.type === 'sqlite' ? config.storage.path : `postgres ${describeTarget(config.storage.url)}`;
}

interface OpenedLedger {
  ledger: Ledger;
  migrations: { applied: string[]; version: number };
  /** Resolves if the ledger can no longer be used (the SQLite thread died). */
  failed: Promise<Error>;
  guardSend?: SendGuard;
  session?: PgSession;
  /** storage.retention: deletes finished rows older than `cutoff` (src/ledger/purge.ts). */
  purge(cutoff: number): Promise<PurgeReport>;
  close(): Promise<void>;
}

/** SQLite in its own thread, or PostgreSQL in this one (its I/O is asynchronous already). */
async function openLedger(config: Config, logger: Logger, clock: Clock): Promise<OpenedLedger> {
  const storage = config.storage;
  if (storage.type === 'postgres') {
    const pg = await openPostgresLedger({
      url: storage.url, pool: storage.pool, clock, logger: logger.child({ stage: 'ledger' }), claimPolicy: createClaimPolicy(),
      receiptGraceMs: config.main.dispatch.receipt_grace,
    });
    // A database that goes away makes calls fail (451 to clients, retries in dispatch) until it is back; nothing to die of.
    return {
      ledger: pg.ledger, migrations: pg.migrations, failed: new Promise<Error>(() => undefined), guardSend: pg.ledger.guardSend, session: pg.session,
      purge: (cutoff) => purgePostgres(pg.pool, cutoff), close: pg.close,
    };
  }
  const thread = await startLedgerThread({
    path: storage.path,
    bookkeepingDelayMs: storage.bookkeepingDelayMs,
    receiptGraceMs: config.main.dispatch.receipt_grace,
    logLevel: config.main.log.level,
    logger,
    clock,
  });
  const purge = async (cutoff: number) => {
    // Its own connection: the ledger thread keeps writing meanwhile (WAL; busy_timeout covers the short waits).
    const db = openDatabase(storage.path);
    try {
      return purgeSqlite(db, cutoff);
    } finally {
      db.close();
    }
  };
  return { ledger: thread, migrations: thread.migrations, failed: thread.failed, purge, close: () => thread.close() };
}

/** storage.retention: a purge a minute after start, then daily. */
function startRetention(opened: OpenedLedger, deps: { retentionMs: number; clock: Clock; logger: Logger }): () => void {
  const run = () => {
    const cutoff = deps.clock.now() - deps.retentionMs;
    opened.purge(cutoff).then(
      (report) => deps.logger.info({ cutoff: new Date(cutoff).toISOString(), deleted: report }, 'retention: finished rows purged; consent events kept'),
      (error: unknown) => deps.logger.error({ err: error }, 'retention purge failed; tried again tomorrow'),
    );
  };
  const first = setTimeout(run, 60_000);
  const daily = setInterval(run, 86_400_000);
  first.unref();
  daily.unref();
  return () => {
    clearTimeout(first);
    clearInterval(daily);
  };
}

/** Tries for the dispatcher lock every `everyMs` until it has it; says so when it is won or lost. */
function startElection(session: PgSession, deps: { everyMs: number; logger: Logger; onElected(): void }): () => void {
  let was = false;
  const tick = async () => {
    const now = await session.tryLead();
    if (now && !was) {
      deps.logger.info('elected dispatcher: this daemon sends for the organisation (dispatch.rate_limit)');
      deps.onElected();
    } else if (!now && was) {
      deps.logger.warn('no longer the elected dispatcher');
    } else if (!now && !was && !announced) {
      announced = true;
      deps.logger.info('another daemon is the elected dispatcher; this one takes over if it goes away');
    }
    was = now;
  };
  let announced = false;
  void tick();
  const timer = setInterval(() => void tick(), deps.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  /** DNS for SPF and DKIM; the system resolver when absent. */
  resolver?: DnsResolver;
}

export interface RunningDaemon {
  ports: { smtp: number; http: number; simulator?: number };
  ledger: Ledger;
  /** Resolves when the daemon can no longer work (the ledger thread died); it has stopped itself. */
  failed: Promise<Error>;
  /**
   * Re-reads the config files off the event loop; keeps the running config (and says why) when
   * the new one is invalid, and names the changed keys only a restart applies.
   */
  reload(): Promise<ReloadResult>;
  stop(): Promise<void>;
}

/**
 * Starts the stages in dependency order (ledger → HTTP → provider → dispatch →
 * SMTP last, so we never accept mail we cannot store) and stops them in reverse.
 */
export async function startDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger;
  let config = options.config;
  let lastReload: DaemonStatus['lastReload'];
  const steps: { name: string; stop: () => Promise<void> }[] = [];
  const stopAll = async () => {
    for (const step of steps.reverse()) {
      try {
        await step.stop();
      } catch (error) {
        logger.error({ err: error, step: step.name }, 'error while stopping');
      }
    }
  };

  // Before anything binds a port: a second start names the running daemon instead of failing on EADDRINUSE.
  assertNotRunning(pidFileFor(config), `${formatListen(config.main.smtp.listen)} (ledger ${storageLabel(config)})`);
  try {
    const opened = await openLedger(config, logger, clock);
    const { ledger } = opened;
    const { applied, version } = opened.migrations;
    if (applied.length > 0) logger.info({ applied, version }, 'database migrated');
    steps.push({ name: 'ledger', stop: () => opened.close() });
    // A SQLite ledger is a file that must stay the one we opened; PostgreSQL has no file to watch.
    const ledgerFile = config.storage.type !== 'sqlite' ? undefined : watchLedgerFile(config.storage.path, {
      intervalMs: 1000,
      onLost: (problem) => logger.fatal({ storage: config.storagePath }, `${problem}; refusing mail with 451 until restarted on the right file (restore it from a backup)`),
    });
    if (ledgerFile) steps.push({ name: 'ledger file watch', stop: async () => ledgerFile.stop() });
    // Intake checks the file before every answer: a 250 into a deleted ledger would be a lie.
    const guardFile = async () => {
      const problem = ledgerFile?.problem();
      if (problem) throw new StorageError(problem);
    };
    const intakeLedger: Pick<Ledger, 'acceptMessage' | 'checkRecipient' | 'groupMembers' | 'contactsByNumber'> = {
      groupMembers: (...args) => guardFile().then(() => ledger.groupMembers(...args)),
      contactsByNumber: (...args) => guardFile().then(() => ledger.contactsByNumber(...args)),
      acceptMessage: (message) => guardFile().then(() => ledger.acceptMessage(message)),
      checkRecipient: (recipient, rules) => guardFile().then(() => ledger.checkRecipient(recipient, rules)),
    };

    if (config.storage.retentionMs !== null) {
      const stopRetention = startRetention(opened, { retentionMs: config.storage.retentionMs, clock, logger });
      steps.push({ name: 'retention', stop: async () => stopRetention() });
    }

    const providerConfig = config.main.provider;
    let simulatorUrl: string | undefined;
    let simulatorPort: number | undefined;
    // Known once HTTP listens (its port may be 0); the simulator reads it per simulated inbound SMS.
    let inboundUrl: string | undefined;
    if (providerConfig.type === 'simulator' && providerConfig.embedded) {
      const simulator: ProviderSimulator = createProviderSimulator({
        listen: providerConfig.listen,
        secret: providerConfig.secret,
        receiptDelayMs: providerConfig.receipt_delay,
        logger: logger.child({ stage: 'simulator' }),
        clock,
        inboundUrl: () => providerConfig.inbound_url ?? inboundUrl,
      });
      const started = await simulator.start();
      simulatorUrl = started.url;
      simulatorPort = started.port;
      steps.push({ name: 'simulator', stop: () => simulator.stop() });
    }
    const provider = createProvider(providerConfig, {
      clock,
      maxSockets: config.main.dispatch.concurrency,
      ...(simulatorUrl !== undefined ? { simulatorUrl } : {}),
    });
    steps.push({ name: 'provider', stop: async () => provider.close() });

    // SMTP refusals never reach the ledger: the console counts the last hour's here.
    const refusals = createRecentTally(clock);
    const metrics = tallying(createMetrics(), 'mail2sms_smtp_refusals_total', 'reason', refusals);
    let inFlight = () => 0; // set once dispatch runs
    // Both outbox gauges are collected in the same scrape: one ledger read serves them.
    let depth: ReturnType<Ledger['queueDepth']> | undefined;
    const readDepth = () => (depth ??= ledger.queueDepth().finally(() => (depth = undefined)));
    metrics.gauge('mail2sms_outbox_queued', async () => (await readDepth()).queued);
    metrics.gauge('mail2sms_outbox_sending', async () => (await readDepth()).sending);
    metrics.gauge('mail2sms_dispatch_in_flight', () => inFlight());
    let providerState = () => 'ok'; // set once dispatch runs
    const gate = createOptOutGate({ clock, holdMs: 2 * config.main.dispatch.lease });

    // Outgoing email (reports, reply and postmaster forwards). Created once: changing
    // notify.relay needs a restart. Closed after dispatch and before the ledger (steps
    // stop in reverse), once nothing that sends through it is left running.
    let relay: Relay | undefined;
    if (config.main.notify) {
      const notifyRelay = createRelay(config.main.notify.relay, { logger });
      relay = notifyRelay;
      steps.push({ name: 'relay', stop: () => notifyRelay.close() });
    }
    const forwardReply = createReplyForwarder({ ledger, relay, getConfig: () => config, logger, metrics });
    const handleInbound = createInboundHandler({
      ledger,
      getConfig: () => config,
      gate,
      logger,
      clock,
      metrics,
      onReply(sms, inboundId) {
        // The webhook is answered without waiting: the reply is stored, and the relay may take up to its timeout.
        forwardReply(sms, inboundId).catch((error: unknown) => logger.error({ err: error, inbound: inboundId }, 'reply forwarding failed'));
      },
    });
    const startedAt = clock.now();
    const status = (): DaemonStatus => ({
      startedAt,
      pid: process.pid,
      host: hostname(),
      ledger: config.storage.type === 'sqlite' ? { backend: 'sqlite', path: config.storage.path } : { backend: 'postgres', path: describeTarget(config.storage.url) },
      dispatching: true,
      ...(lastReload ? { lastReload } : {}),
    });
    const opsConsole = createConsole({
      ledger,
      tokens: () => config.main.http.tokens,
      setups: () => config.setups,
      status,
      refusals: () => refusals.counts(),
      secure: () => config.publicUrl.startsWith('https:'),
      clock,
      logger,
    });
    const http = createHttpApi({
      listen: config.main.http.listen,
      ledger,
      provider,
      logger,
      clock,
      metrics,
      maxConcurrentBodies: config.main.http.max_concurrent_bodies,
      health: async () => {
        const file = ledgerFile?.problem();
        // The thread (or PostgreSQL) answers a read only while it holds the database.
        const thread = await ledger.queueDepth().then(() => undefined, (error: unknown) => `${config.storage.type === 'sqlite' ? 'ledger thread' : 'ledger'}: ${(error as Error).message}`);
        return { ledger: file ?? thread ?? 'ok', provider: providerState() };
      },
      routes: {
        [`POST ${INBOUND_PATH}`]: {
          async handle(headers, raw) {
            const parsed = provider.parseInbound(headers, raw, clock.now());
            if (!parsed.ok) {
              logger.warn({ status: parsed.status, reason: parsed.reason }, 'inbound SMS refused');
              return [parsed.status, { error: parsed.reason }];
            }
            const outcome = await handleInbound(parsed.inbound);
            return [200, { id: outcome.inboundId, action: outcome.action, duplicate: outcome.duplicate }];
          },
        },
        'POST /sends': {
          maxBytes: 32 * 1024 * 1024,
          authorize: authorizeSends(() => config.main.http.tokens),
          handle: createSendsEndpoint({ ledger, tokens: () => config.main.http.tokens, now: () => clock.now(), maxSkewMs: config.main.limits.clock_skew }),
        },
        'PUT /contacts': {
          maxBytes: 64 * 1024 * 1024,
          // The same tokens and scope as POST /sends, checked before the body is read.
          authorize: authorizeSends(() => config.main.http.tokens),
          handle: createContactsEndpoint({ ledger, getConfig: () => config }),
        },
      },
      // Checked per request, so a reload can turn the console on or off.
      mounts: [{ prefix: CONSOLE_PREFIX, handle: (req, res) => (config.main.http.console.enabled ? opsConsole.handle(req, res) : sendJson(res, 404, { error: `no route ${req.method} ${CONSOLE_PREFIX}` })) }],
    });
    const httpPort = await http.start();
    steps.push({ name: 'http', stop: () => http.stop() });
    const publicUrl = config.main.http.public_url
      ? config.publicUrl
      : `http://${formatListen({ host: config.main.http.listen.host, port: httpPort })}`;
    inboundUrl = publicUrl + INBOUND_PATH;

    const d = config.main.dispatch;
    // A provider rate limit is one budget for the organisation: with several daemons, one elected daemon dispatches.
    const election = opened.session && d.rate_limit > 0 ? opened.session : undefined;
    const dispatcher: Dispatcher = createDispatcher({
      ledger,
      provider,
      clock,
      logger: logger.child({ stage: 'dispatch' }),
      callbackUrl: publicUrl + RECEIPTS_PATH,
      concurrency: d.concurrency,
      pollIntervalMs: d.poll_interval,
      leaseMs: d.lease,
      maxAttempts: d.max_attempts,
      retryBaseMs: d.retry_base,
      retryMaxMs: d.retry_max,
      maxRetryAgeMs: d.max_retry_age,
      ratePerSecond: d.rate_limit,
      metrics,
      gate,
      ...(opened.guardSend ? { guard: opened.guardSend } : {}),
      ...(election ? { mayDispatch: election.isLeader } : {}),
    });
    inFlight = () => dispatcher.inFlight();
    providerState = () => dispatcher.providerState();
    ledger.onQueued(() => dispatcher.wake());
    dispatcher.start();
    steps.push({ name: 'dispatch', stop: () => dispatcher.stop(d.shutdown_timeout) });
    if (election) {
      const stopElection = startElection(election, { everyMs: Math.min(d.poll_interval, 1000), logger, onElected: () => dispatcher.wake() });
      steps.push({ name: 'dispatcher election', stop: async () => stopElection() });
    }

    if (relay) {
      const reporter = createReporter({ ledger, relay, getConfig: () => config, clock, logger, metrics });
      reporter.start();
      steps.push({ name: 'reporter', stop: () => reporter.stop() });
    }

    const smtp: SmtpIntake = createSmtpIntake({
      getConfig: () => config,
      ledger: intakeLedger,
      logger,
      clock,
      metrics,
      ...(relay ? { relay } : {}),
      ...(options.resolver ? { resolver: options.resolver } : {}),
    });
    const smtpPort = await smtp.start();
    steps.push({ name: 'smtp', stop: () => smtp.stop() });

    // `mail2sms reload` finds the daemon through this file, next to the ledger.
    const pidFile = pidFileFor(config);
    writeFileSync(pidFile, `${process.pid}\n`);
    steps.push({ name: 'pid file', stop: async () => rmSync(pidFile, { force: true }) });

    const ports = { smtp: smtpPort, http: httpPort, ...(simulatorPort !== undefined ? { simulator: simulatorPort } : {}) };
    logger.info({ ports, setups: config.setups.map((s) => s.id), storage: storageLabel(config) }, 'mail2sms ready');

    const reloader = createReloader({
      running: () => config,
      apply(next) {
        config = next;
        smtp.updateTls(next);
      },
      logger,
      clock,
    });
    steps.push({ name: 'reload answer', stop: async () => rmSync(reloader.answerFile, { force: true }) });

    let stopping: Promise<void> | undefined;
    const stop = () => {
      if (!stopping) logger.info({ smtpGraceMs: SHUTDOWN_GRACE_MS, shutdownTimeoutMs: d.shutdown_timeout }, 'shutting down: no new mail, idle SMTP clients closed, in-flight sends may finish');
      return (stopping ??= stopAll().then(() => logger.info('mail2sms stopped')));
    };
    const failed = opened.failed.then(async (error) => {
      logger.fatal({ err: error }, 'the ledger is gone; stopping so the service manager can restart us');
      await stop();
      return error;
    });
    return {
      ports,
      ledger,
      failed,
      async reload() {
        const result = await reloader.reload();
        lastReload = result.ok ? { at: clock.now(), ok: true } : { at: clock.now(), ok: false, error: result.error };
        return result;
      },
      stop,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
