import { createHash } from 'node:crypto';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/load.js';
import type { SenderMatch } from '../config/match.js';
import { refusal, StorageError, type Refusal } from '../errors.js';
import { maskNumber, maskNumbersIn, type Logger } from '../log.js';
import type { Ledger } from '../ledger/types.js';
import { parseEmail } from '../message/parse.js';
import { buildSmsText, type TextPolicy } from '../message/text.js';
import { parseSendAt } from '../message/send-at.js';
import { checkRecipient, checkSender, normaliseIp, rulesFor, textPolicyFor } from './policy.js';
import { replyError } from './replies.js';
import { noMetrics, type Metrics } from '../metrics.js';
import { verifyPassword } from './passwords.js';
import { checkDkim, checkSpf, type DnsResolver } from './sender-auth.js';
import type { Relay } from '../notify/relay.js';
import { buildPostmasterForward } from '../notify/postmaster.js';

/** A real hash nobody's password matches, verified for unknown users so a login costs the same either way. */
const UNKNOWN_USER_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$' + Buffer.alloc(32).toString('base64');

export interface SmtpIntakeOptions {
  /** The config in force; each session keeps the one it started with. */
  getConfig(): Config;
  ledger: Ledger;
  logger: Logger;
  /** DNS for SPF and DKIM (default: the system resolver); tests pass their own. */
  resolver?: DnsResolver;
  metrics?: Metrics;
  /** The notify relay (config `notify`), for forwarding postmaster mail; absent = postmaster mail is only logged. */
  relay?: Relay;
}

/** How long SPF and DKIM may take, DNS included, before the client is told to retry. */
const SENDER_AUTH_TIMEOUT_MS = 10_000;

export interface SmtpIntake {
  start(): Promise<number>;
  /** Swaps in the certificate of a reloaded config for new STARTTLS handshakes. */
  updateTls(config: Config): void;
  /** Stops accepting: connected clients get 421 and new connections are refused. */
  stop(): Promise<void>;
}

interface Transaction {
  number: number;
  /** undefined for the null sender <>. */
  sender: SenderMatch | undefined;
  mailFrom: string;
  numbers: Map<string, string>; // E.164 → address as given
  addresses: Set<string>;
  postmaster: boolean;
}

interface SessionState {
  config: Config;
  log: Logger;
  transactions: number;
  txn: Transaction | undefined;
}

const REASON_TEXT: Record<string, string> = {
  opted_out: 'the number opted out of SMS',
  no_consent: 'the number has not opted in to this kind of SMS',
  stale_consent: 'the number\'s opt-in has lapsed',
  daily_limit: 'this sender reached its daily SMS limit',
  number_daily_limit: 'the number reached the daily SMS limit',
  cooldown: 'the number got an SMS recently',
};

/**
 * With consent.stop_clause.once_per, a number that had the clause recently
 * gets the text without it (and so perhaps less truncated).
 */
function stopClauseOnce(config: Config, email: Parameters<typeof buildSmsText>[0], policy: TextPolicy, appended: boolean): { stopClauseOnce?: { periodMs: number; text: string } } {
  const periodMs = config.main.consent.stop_clause.once_per;
  if (!appended || periodMs === null) return {};
  const { stopClause: _clause, ...withoutClause } = policy;
  const plain = buildSmsText(email, withoutClause);
  return plain.ok ? { stopClauseOnce: { periodMs, text: plain.text } } : {};
}

function suppressionText(reason: string | undefined, detail: string | undefined): string {
  // SMTP replies are ASCII: no dashes or quotes beyond it.
  return `${REASON_TEXT[reason ?? ''] ?? 'suppressed'}${detail ? `; ${detail}` : ''}`;
}

export function createSmtpIntake(options: SmtpIntakeOptions): SmtpIntake {
  const { ledger } = options;
  const logger = options.logger.child({ stage: 'smtp' });
  const sessions = new Map<string, SessionState>();
  const metrics = options.metrics ?? noMetrics;

  function stateOf(session: SMTPServerSession): SessionState {
    let state = sessions.get(session.id);
    if (!state) {
      state = {
        config: options.getConfig(),
        log: logger.child({ session: session.id, ip: normaliseIp(session.remoteAddress) }),
        transactions: 0,
        txn: undefined,
      };
      sessions.set(session.id, state);
    }
    return state;
  }

  function txnRef(session: SMTPServerSession, state: SessionState): string {
    return `${session.id}.${state.txn?.number ?? state.transactions}`;
  }

  function refuse(session: SMTPServerSession, state: SessionState, why: Refusal, extra: Record<string, unknown> = {}) {
    const ref = txnRef(session, state);
    const fields = Object.fromEntries(Object.entries(extra).map(([key, value]) => [key, typeof value === 'string' ? maskNumbersIn(value) : value]));
    state.log.info({ ref, refusal: why.code, ...fields }, maskNumbersIn(why.detail));
    metrics.inc('mail2sms_smtp_refusals_total', { reason: why.code });
    return replyError(why, ref);
  }

  async function handleData(session: SMTPServerSession, state: SessionState, raw: Buffer): Promise<string> {
    const txn = state.txn as Transaction;
    const ref = txnRef(session, state);
    const log = state.log.child({ ref });
    if (!txn.sender && !txn.postmaster) {
      log.info({ bytes: raw.length }, 'null sender (bounce) accepted and dropped');
      return `2.0.0 Bounce accepted and discarded [ref ${ref}]`;
    }
    if (txn.sender?.setup.authorize.dkim && txn.numbers.size > 0) {
      const failure = await checkDkim({ raw, envelopeSender: txn.mailFrom, resolver: options.resolver, timeoutMs: SENDER_AUTH_TIMEOUT_MS });
      if (failure) throw refuse(session, state, failure);
    }
    const email = await parseEmail(raw);
    if (email.notification !== undefined) {
      // One of our own reports or forwards came back (an address that points at us, a forwarding rule):
      // sending it as SMS or forwarding it again would start a loop, so the whole mail is refused.
      log.warn({ from: txn.mailFrom, kind: email.notification, subject: email.subject }, 'mail2sms notification received back; refused to stop a loop');
      throw refuse(session, state, refusal('notification_loop', `This mail is a mail2sms notification (X-Mail2sms-Notification: ${email.notification.replace(/[^\x21-\x7e]/g, '').slice(0, 20)}); it is never sent as SMS or forwarded`));
    }
    if (txn.postmaster) await forwardToPostmaster(session, state, raw, email.subject);
    if (!txn.sender) {
      log.info({ bytes: raw.length }, 'null sender (bounce) for postmaster handled; nothing else is done with it');
      return `2.0.0 Bounce for postmaster accepted [ref ${ref}]`;
    }
    if (email.autoReply) {
      log.info({ from: txn.mailFrom }, 'auto-reply dropped: vacation and out-of-office replies are never sent as SMS');
      return `2.0.0 Auto-reply accepted and discarded [ref ${ref}]`;
    }
    if (txn.numbers.size === 0) return `2.0.0 Accepted for postmaster [ref ${ref}]`;
    const setup = txn.sender.setup;
    const policy = textPolicyFor(setup, state.config.main.consent.stop_clause);
    const sms = buildSmsText(email, policy);
    if (!sms.ok && sms.reason === 'no_text') {
      throw refuse(session, state, refusal('no_text', 'The message has no text to send as SMS (attachments are not sent)'));
    }
    if (!sms.ok) {
      throw refuse(
        session,
        state,
        refusal('too_long', `The SMS would be ${sms.segments} segments; this sender's limit is ${sms.maxSegments} (shorten the message)`),
      );
    }
    if (sms.warnings.length > 0) log.info({ warnings: sms.warnings, segments: sms.measure.segments }, 'sms text built with warnings');

    let sendAt: number | undefined;
    if (email.sendAt !== undefined) {
      const asked = parseSendAt(email.sendAt, Date.now(), state.config.main.dispatch.max_schedule_ahead);
      if (!asked.ok) throw refuse(session, state, refusal('bad_send_at', asked.message));
      sendAt = asked.at;
    }
    const headerEnd = raw.indexOf('\r\n\r\n');
    const bodyHash = createHash('sha256').update(headerEnd === -1 ? raw : raw.subarray(headerEnd + 4)).digest('hex');
    const outcome = await ledger.acceptMessage({
      setupId: setup.id,
      senderName: setup.sender_name,
      mailFrom: txn.mailFrom,
      headerMessageId: email.messageId,
      bodyHash,
      clientIp: normaliseIp(session.remoteAddress),
      sessionRef: ref,
      text: sms.text,
      measure: sms.measure,
      recipients: [...txn.numbers.keys()],
      rules: rulesFor(state.config, setup),
      stopClauseAppended: sms.stopClauseAppended,
      ...stopClauseOnce(state.config, email, policy, sms.stopClauseAppended),
      ...(email.subject ? { subject: email.subject } : {}),
      ...(sendAt !== undefined ? { sendAt } : {}),
      // max_age counts from the mail's arrival, or from the time it asked to be sent.
      ...(setup.max_age !== null ? { expiresAt: (sendAt ?? Date.now()) + setup.max_age } : {}),
      ...(setup.sending_window ? { sendingWindow: setup.sending_window } : {}),
      onUnknown: setup.on_unknown ?? (setup.category === 'marketing' ? 'fail' : 'retry'),
      ...(setup.report !== 'none' ? { reportMode: setup.report } : {}),
    });
    const msgLog = log.child({ qid: outcome.queueId });
    if (outcome.duplicate) {
      msgLog.info({ from: txn.mailFrom, messageId: email.messageId }, 'retried mail: already accepted, no new SMS');
      return `2.0.0 Already queued as ${outcome.queueId}`;
    }
    metrics.inc('mail2sms_mails_accepted_total');
    const suppressedReasons = new Set<string>();
    let suppressed = 0;
    for (const decision of outcome.decisions) {
      metrics.inc('mail2sms_recipients_total', { decision: decision.outcome === 'suppressed' ? `suppressed_${decision.reason ?? 'other'}` : decision.outcome });
      const to = maskNumber(decision.recipient);
      if (decision.outcome === 'queued') msgLog.info({ to, setup: setup.id, segments: sms.measure.segments }, 'sms queued');
      else if (decision.outcome === 'duplicate') msgLog.info({ to }, 'recipient already queued by an earlier copy of this mail');
      else {
        suppressed++;
        suppressedReasons.add(decision.reason ?? 'other');
        msgLog.info({ to, reason: decision.reason, detail: decision.detail }, 'recipient suppressed');
      }
    }
    if (setup.on_suppressed === 'reject' && suppressed === outcome.decisions.length) {
      // RCPT TO checked each recipient, but the rules may have changed before the
      // atomic decision at DATA; every recipient is suppressed, so nothing was queued.
      const first = outcome.decisions[0];
      throw refuse(session, state, refusal('recipient_suppressed', `Not sent: ${suppressionText(first?.reason, first?.detail)} (recorded as ${outcome.queueId})`));
    }
    const note = suppressed > 0 ? `; ${suppressed} of ${outcome.decisions.length} recipient(s) suppressed (${[...suppressedReasons].join(', ')})` : '';
    return `2.0.0 Queued as ${outcome.queueId}${note}`;
  }

  /**
   * Mail to postmaster@<sms domain> goes to the admin through the relay before
   * we answer: there is no queue for it, so 250 is only said once the relay has
   * the mail, and a relay that cannot take it now means 451 (the client keeps
   * the mail and retries). Throws the SMTP reply on failure.
   */
  async function forwardToPostmaster(session: SMTPServerSession, state: SessionState, raw: Buffer, subject: string | undefined): Promise<void> {
    const txn = state.txn as Transaction;
    const log = state.log.child({ ref: txnRef(session, state) });
    const admin = state.config.main.notify?.admin ?? state.config.main.postmaster;
    // As policy.ts accepts them: postmaster@<sms domain>, or bare `postmaster` (RFC 5321 §4.5.1).
    const rcpt = [...txn.addresses].filter((address) => address === 'postmaster' || address.startsWith('postmaster@'));
    if (!options.relay || !admin) {
      const why = options.relay ? 'neither notify.admin nor postmaster is configured' : 'no notify relay is configured';
      log.warn({ from: txn.mailFrom, rcpt, subject }, `mail for postmaster received; not forwarded (${why}), it is logged only`);
      return;
    }
    const result = await options.relay.send(
      buildPostmasterForward({
        admin,
        envelopeFrom: txn.mailFrom,
        rcpt,
        clientIp: normaliseIp(session.remoteAddress),
        raw,
        receivedAt: Date.now(),
        ...(subject ? { originalSubject: subject } : {}),
      }),
    );
    metrics.inc('mail2sms_notifications_total', { kind: 'postmaster', result: result.ok ? 'sent' : result.temporary ? 'deferred' : 'refused' });
    if (result.ok) {
      log.info({ from: txn.mailFrom, rcpt, admin, subject }, 'mail for postmaster forwarded');
      return;
    }
    // The relay's own words stay in our log: they may name the admin address.
    if (result.temporary) {
      throw refuse(session, state, refusal('postmaster_unavailable', 'Cannot forward mail for postmaster right now, try again later'), { admin, reason: result.reason });
    }
    throw refuse(session, state, refusal('postmaster_refused', 'Mail for postmaster cannot be delivered: the forwarding relay refused it'), { admin, reason: result.reason });
  }

  let server: SMTPServer | undefined;

  // Connections per client address in the current minute.
  const connections = new Map<string, { count: number; since: number }>();
  function connectionAllowed(config: Config, ip: string): boolean {
    const now = Date.now();
    let entry = connections.get(ip);
    if (!entry || now - entry.since >= 60_000) {
      if (connections.size > 10_000) connections.clear(); // bounded under a flood of addresses
      entry = { count: 0, since: now };
      connections.set(ip, entry);
    }
    entry.count++;
    return entry.count <= config.main.smtp.max_connection_rate;
  }

  // Failed AUTHs per client address in the current hour; over the limit the address is refused until the hour ends.
  const authFailures = new Map<string, { count: number; since: number }>();

  async function authenticate(config: Config, username: string, password: string, ip: string): Promise<Refusal | undefined> {
    const now = Date.now();
    const record = authFailures.get(ip);
    if (record && now - record.since > 3_600_000) authFailures.delete(ip);
    const failures = authFailures.get(ip);
    if (failures && failures.count >= config.main.smtp.auth_failure_limit) {
      return refusal('auth_locked', `Too many failed logins from ${ip}; try again later`);
    }
    const user = config.users.get(username);
    // Unknown users cost the same scrypt as known ones, so timing does not tell which exist.
    const ok = await verifyPassword(password, user?.passwordHash ?? UNKNOWN_USER_HASH);
    if (ok && user) {
      authFailures.delete(ip);
      return undefined;
    }
    if (authFailures.size > 10_000 && !failures) authFailures.clear(); // bounded when guesses come from many addresses
    authFailures.set(ip, { count: (failures?.count ?? 0) + 1, since: failures?.since ?? now });
    await new Promise((resolve) => setTimeout(resolve, config.main.smtp.auth_failure_delay));
    return refusal('auth_failed', 'Authentication credentials invalid');
  }

  const build = (config: Config) => new SMTPServer({
    name: config.main.smtp.hostname,
    maxClients: config.main.smtp.max_clients,
    socketTimeout: config.main.smtp.socket_timeout,
    // On shutdown a client in the middle of a transaction gets this long before 421.
    closeTimeout: 10_000,
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
      const state = stateOf(session);
      const username = auth.username ?? '';
      authenticate(state.config, username, auth.password ?? '', normaliseIp(session.remoteAddress)).then(
        (failure) => {
          if (failure) return callback(refuse(session, state, failure, { user: username }));
          state.log.info({ user: username }, 'authenticated');
          callback(null, { user: username });
        },
        (error: unknown) => {
          state.log.error({ err: error }, 'AUTH failed unexpectedly');
          callback(replyError(refusal('internal_error', 'Temporary local problem, try again later'), txnRef(session, state)));
        },
      );
    },
    onConnect(session, callback) {
      const state = stateOf(session);
      const ip = normaliseIp(session.remoteAddress);
      if (!connectionAllowed(state.config, ip)) {
        return callback(refuse(session, state, refusal('connection_rate', `Too many connections from ${ip}; slow down`)));
      }
      state.log.debug('connect');
      metrics.inc('mail2sms_smtp_connections_total');
      callback();
    },
    onMailFrom(address, session, callback) {
      const state = stateOf(session);
      state.transactions++;
      const mailFrom = address.address.toLowerCase();
      state.txn = { number: state.transactions, sender: undefined, mailFrom, numbers: new Map(), addresses: new Set(), postmaster: false };
      if (mailFrom === '') return callback();
      const declared = Number(address.args && typeof address.args === 'object' ? (address.args as Record<string, string>).SIZE : NaN);
      if (declared > state.config.main.smtp.max_message_size) {
        return callback(refuse(session, state, refusal('message_too_large', `Message size ${declared} exceeds the limit of ${state.config.main.smtp.max_message_size} bytes`)));
      }
      const verdict = checkSender(state.config, mailFrom, session.remoteAddress, typeof session.user === 'string' ? session.user : undefined);
      if (!verdict.ok) return callback(refuse(session, state, verdict.refusal, { from: mailFrom }));
      const txn = state.txn;
      const accept = () => {
        txn.sender = verdict.match;
        state.log.debug({ from: mailFrom, setup: verdict.match.setup.id, rule: verdict.match.rule }, 'sender accepted');
        callback();
      };
      if (!verdict.match.setup.authorize.spf) return accept();
      checkSpf({
        sender: mailFrom,
        ip: normaliseIp(session.remoteAddress),
        helo: session.hostNameAppearsAs || 'unknown',
        hostname: state.config.main.smtp.hostname,
        resolver: options.resolver,
        timeoutMs: SENDER_AUTH_TIMEOUT_MS,
      }).then(
        (failure) => (failure ? callback(refuse(session, state, failure, { from: mailFrom })) : accept()),
        (error: unknown) => {
          state.log.error({ err: error }, 'SPF check failed unexpectedly');
          callback(replyError(refusal('internal_error', 'Temporary local problem, try again later'), txnRef(session, state)));
        },
      );
    },
    onRcptTo(address, session, callback) {
      const state = stateOf(session);
      const txn = state.txn;
      if (!txn) return callback(Object.assign(new Error('5.5.1 Send MAIL FROM first'), { responseCode: 503 }));
      const key = address.address.toLowerCase();
      const limit = Math.min(state.config.main.smtp.max_recipients, txn.sender?.setup.max_recipients ?? Number.POSITIVE_INFINITY);
      if (!txn.addresses.has(key) && txn.addresses.size >= limit) {
        return callback(refuse(session, state, refusal('too_many_recipients', `Too many recipients: at most ${limit} per message, send the rest in another message`)));
      }
      const verdict = checkRecipient(state.config, txn.sender?.setup, address.address);
      if (!verdict.ok) return callback(refuse(session, state, verdict.refusal, { to: address.address }));
      const accept = () => {
        txn.addresses.add(key);
        if (verdict.kind === 'postmaster') txn.postmaster = true;
        else txn.numbers.set(verdict.e164, address.address);
        callback();
      };
      const setup = txn.sender?.setup;
      if (verdict.kind !== 'sms' || setup?.on_suppressed !== 'reject') return accept();
      // Reject mode: the sender wants to hear at once that this number will not get the SMS.
      ledger.checkRecipient(verdict.e164, rulesFor(state.config, setup)).then(
        (rule) => {
          if (rule.allowed) return accept();
          callback(refuse(session, state, refusal('recipient_suppressed', `${verdict.e164} will not get this SMS: ${suppressionText(rule.reason, rule.detail)}`), { to: maskNumber(verdict.e164), reason: rule.reason }));
        },
        (error: unknown) => {
          state.log.error({ err: error }, 'ledger unavailable at RCPT TO');
          callback(refuse(session, state, refusal('storage_unavailable', 'Temporary storage problem, try again later')));
        },
      );
    },
    onData(stream: SMTPServerDataStream, session, callback) {
      const state = stateOf(session);
      const limit = state.config.main.smtp.max_message_size;
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= limit) chunks.push(chunk);
      });
      stream.on('error', (error) => {
        state.log.warn({ err: error }, 'data stream failed');
      });
      stream.on('end', () => {
        if (size > limit) {
          return callback(refuse(session, state, refusal('message_too_large', `Message size exceeds the limit of ${limit} bytes`), { bytes: size }));
        }
        handleData(session, state, Buffer.concat(chunks, size)).then(
          (reply) => callback(null, reply),
          (error: unknown) => {
            if (error instanceof Error && 'responseCode' in error) return callback(error);
            const ref = txnRef(session, state);
            metrics.inc('mail2sms_smtp_refusals_total', { reason: error instanceof StorageError ? 'storage_unavailable' : 'internal_error' });
            if (error instanceof StorageError) {
              state.log.error({ err: error, ref }, 'ledger unavailable; answered 451, the client will retry');
              return callback(replyError(refusal('storage_unavailable', 'Cannot store the message right now, try again later'), ref));
            }
            state.log.error({ err: error, ref }, 'unexpected error in DATA; answered 451');
            callback(replyError(refusal('internal_error', 'Temporary local problem, try again later'), ref));
          },
        );
      });
    },
    onClose(session) {
      sessions.delete(session.id);
    },
  });

  return {
    start() {
      const config = options.getConfig();
      const { listen } = config.main.smtp;
      const smtp = build(config);
      server = smtp;
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
    stop() {
      return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}
