import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/load.js';
import { systemClock, type Clock } from '../core/clock.js';
import { refusal, StorageError } from '../core/errors.js';
import { logFailure, type Logger } from '../core/log.js';
import { noMetrics, secondsSince, type Metrics } from '../core/metrics.js';
import { normaliseIp } from '../intake/policy.js';
import type { Ledger } from '../ledger/types.js';
import type { Relay } from '../notify/relay.js';
import { createAccessControl } from './access.js';
import { coalesceReplies } from './coalesce.js';
import { createDataHandler } from './data.js';
import { createParsePool, type ParsePool } from './parse-pool.js';
import { createEnvelopeHandlers } from './envelope.js';
import { createPostmasterForwarder } from './postmaster.js';
import type { DnsResolver } from './sender-auth.js';
import { createSessions, type Sessions } from './session.js';
import { createShutdown } from './shutdown.js';
import { createTransactionTimers, type TransactionTimers } from './timing.js';

/*
 * smtp-server's callbacks, translated into calls on intake/ and the ledger and
 * their results back into replies. The policy lives in intake/; the reply
 * texts in replies.ts.
 */

export interface SmtpIntakeOptions {
  /** The config in force; each session keeps the one it started with. */
  getConfig(): Config;
  ledger: Pick<Ledger, 'acceptMessage' | 'checkRecipient' | 'groupMembers' | 'contactsByNumber'>;
  logger: Logger;
  clock?: Clock;
  /** DNS for SPF and DKIM (default: the system resolver); tests pass their own. */
  resolver?: DnsResolver;
  metrics?: Metrics;
  /** The notify relay (config `notify`), for forwarding postmaster mail; absent = postmaster mail is only logged. */
  relay?: Relay;
}

export interface SmtpIntake {
  start(): Promise<number>;
  /** Swaps in the certificate of a reloaded config for new STARTTLS handshakes. */
  updateTls(config: Config): void;
  /** Stops accepting: connected clients get 421 and new connections are refused. */
  stop(): Promise<void>;
}

export function createSmtpIntake(options: SmtpIntakeOptions): SmtpIntake {
  const logger = options.logger.child({ stage: 'smtp' });
  const metrics = options.metrics ?? noMetrics;
  const clock = options.clock ?? systemClock;
  const sessions = createSessions({ getConfig: options.getConfig, logger, metrics });
  const access = createAccessControl({ clock });
  const envelope = createEnvelopeHandlers({ sessions, ledger: options.ledger, ...(options.resolver ? { resolver: options.resolver } : {}) });
  const forwardToPostmaster = createPostmasterForwarder({ sessions, metrics, clock, ...(options.relay ? { relay: options.relay } : {}) });
  // The pool is sized by the config at start; a reload does not resize it.
  const parsePool: ParsePool = createParsePool(options.getConfig().main.smtp.parse_workers);
  const handleData = createDataHandler({ ledger: options.ledger, sessions, metrics, clock, forwardToPostmaster, parsePool, ...(options.resolver ? { resolver: options.resolver } : {}) });
  const shutdown = createShutdown({ sessions, logger });
  let server: SMTPServer | undefined;
  const timers = createTransactionTimers({ server: () => server, logger, metrics });
  const callbacks = { sessions, access, envelope, handleData, metrics, shutdown, timers };

  return {
    start() {
      const config = options.getConfig();
      const { listen } = config.main.smtp;
      const smtp = buildServer(config, callbacks);
      server = smtp;
      coalesceReplies(smtp.server);
      smtp.on('error', (error) => logger.warn({ err: error }, 'smtp connection error'));
      return new Promise((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        smtp.server.once('error', onError);
        smtp.listen(listen.port, listen.host, () => {
          smtp.server.off('error', onError);
          const bound = smtp.server.address();
          resolve(typeof bound === 'object' && bound ? bound.port : listen.port);
        });
      });
    },
    updateTls(config) {
      if (server && config.tls) server.updateSecureContext({ key: config.tls.key, cert: config.tls.cert });
    },
    async stop() {
      if (server) await shutdown.shutDown(server);
      await parsePool.close();
    },
  };
}

interface Callbacks {
  sessions: Sessions;
  access: ReturnType<typeof createAccessControl>;
  envelope: ReturnType<typeof createEnvelopeHandlers>;
  handleData: (session: SMTPServerSession, raw: Buffer) => Promise<string>;
  metrics: Metrics;
  shutdown: ReturnType<typeof createShutdown>;
  timers: TransactionTimers;
}

type Done = (error?: Error | null) => void;

/**
 * smtp-server 3.21.6 stops answering when onMailFrom and onRcptTo both call
 * back synchronously and the client pipelines whole transactions (DATA content
 * included) in one write: two are answered, then silence. Calling back once
 * the current stack has unwound avoids it; on the next tick rather than the
 * next turn of the loop, so the answers to one packet leave together
 * (coalesce.ts).
 */
function later(callback: Done): Done {
  return (error) => process.nextTick(() => callback(error));
}

function buildServer(config: Config, cb: Callbacks): SMTPServer {
  const { sessions } = cb;
  return new SMTPServer({
    name: config.main.smtp.hostname,
    maxClients: config.main.smtp.max_clients,
    socketTimeout: config.main.smtp.socket_timeout,
    // shutdown.ts gives busy clients SHUTDOWN_GRACE_MS itself; this only covers what is left after it.
    closeTimeout: 1_000,
    banner: 'mail2sms ESMTP',
    disabledCommands: [...(config.tls ? [] : ['STARTTLS']), ...(config.users.size > 0 ? [] : ['AUTH'])],
    ...(config.tls ? { key: config.tls.key, cert: config.tls.cert } : {}),
    authMethods: ['PLAIN', 'LOGIN'],
    // Only the listed load balancers may (and must) send a PROXY header; rules then see the real client.
    ...(config.main.smtp.proxy_protocol.length > 0 ? { useProxy: [...config.main.smtp.proxy_protocol] } : {}),
    // With require_tls, smtp-server answers AUTH before STARTTLS with 538.
    allowInsecureAuth: !config.main.smtp.require_tls,
    authOptional: true,
    logger: false,
    onAuth(auth, session, callback) {
      const state = sessions.stateOf(session);
      const username = auth.username ?? '';
      cb.access.authenticate(state.config, username, auth.password ?? '', normaliseIp(session.remoteAddress)).then(
        (failure) => {
          if (failure) return callback(sessions.refuse(session, failure, { user: username }));
          state.log.info({ user: username }, 'authenticated');
          callback(null, { user: username });
        },
        (error: unknown) => {
          state.log.error({ err: error }, 'AUTH failed unexpectedly');
          callback(sessions.refuse(session, refusal('internal_error', 'Temporary local problem, try again later')));
        },
      );
    },
    onConnect(session, callback) {
      const state = sessions.stateOf(session);
      const ip = normaliseIp(session.remoteAddress);
      if (!cb.access.connectionAllowed(state.config, ip)) {
        return callback(sessions.refuse(session, refusal('connection_rate', `Too many connections from ${ip}; slow down`)));
      }
      const full = cb.access.admit(state.config, session.id, ip);
      if (full) return callback(sessions.refuse(session, full));
      state.log.debug('connect');
      cb.metrics.inc('mail2sms_smtp_connections_total');
      callback();
    },
    onMailFrom(address, session, callback) {
      const closing = cb.shutdown.refusal();
      if (closing) return callback(sessions.refuse(session, closing));
      cb.timers.startTransaction(sessions.stateOf(session).config, session);
      cb.envelope.onMailFrom(address, session, later(callback));
    },
    onRcptTo: (address, session, callback) => cb.envelope.onRcptTo(address, session, later(callback)),
    onData(stream: SMTPServerDataStream, session, callback) {
      cb.timers.watchData(sessions.stateOf(session).config, stream, session);
      receiveData(stream, session, cb, callback);
    },
    onClose(session) {
      cb.timers.endTransaction(session);
      cb.access.release(session.id);
      sessions.forget(session);
    },
  });
}

/** Collects DATA up to the size limit, then hands it to the data handler; maps unexpected failures to 451. */
function receiveData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: Callbacks, callback: (error?: Error | null, message?: string) => void): void {
  const { sessions } = cb;
  const state = sessions.stateOf(session);
  const smtp = state.config.main.smtp;
  // Mail for postmaster from a sender no setup claims has its own, smaller limit.
  const limit = state.txn?.outsider ? Math.min(smtp.max_message_size, smtp.postmaster_max_size) : smtp.max_message_size;
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  });
  stream.on('error', (error) => state.log.warn({ err: error }, 'data stream failed'));
  stream.on('end', () => {
    if (size > limit) {
      return callback(sessions.refuse(session, refusal('message_too_large', `Message size exceeds the limit of ${limit} bytes`), { bytes: size }));
    }
    const received = performance.now();
    cb.handleData(session, Buffer.concat(chunks, size)).then(
      (reply) => {
        cb.metrics.observe('mail2sms_smtp_data_seconds', secondsSince(received));
        callback(null, reply);
      },
      (error: unknown) => {
        if (error instanceof Error && 'responseCode' in error) return callback(error);
        const ref = sessions.refOf(session);
        if (error instanceof StorageError) {
          logFailure(state.log, 'error', { ref }, error, 'ledger unavailable; answered 451, the client will retry');
          return callback(sessions.refuse(session, refusal('storage_unavailable', 'Cannot store the message right now, try again later')));
        }
        state.log.error({ err: error, ref }, 'unexpected error in DATA; answered 451');
        callback(sessions.refuse(session, refusal('internal_error', 'Temporary local problem, try again later')));
      },
    );
  });
}
