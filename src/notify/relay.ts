import { randomUUID } from 'node:crypto';
import nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type { Logger } from '../core/log.js';
import { NOTIFICATION_HEADER, type OutgoingMail } from './mail.js';

export interface RelayConfig {
  host: string;
  port: number;
  /** TLS from the first byte (port 465). */
  secure?: boolean;
  /** When not `secure`: `require` refuses to send in clear, `opportunistic` upgrades when offered, `off` never upgrades. */
  starttls?: 'require' | 'opportunistic' | 'off';
  auth?: { user: string; pass: string };
  /** Our address: the From header, and the envelope sender unless a mail asks for a null sender. */
  from: string;
  /** Milliseconds for connecting, the greeting and each socket read. */
  timeout: number;
}

export type RelaySendResult =
  | { ok: true; messageId: string }
  /** `temporary: false` only when the relay refused this mail itself; everything else may succeed later. */
  | { ok: false; temporary: boolean; reason: string };

export interface Relay {
  send(mail: OutgoingMail): Promise<RelaySendResult>;
  /** Waits for sends in flight, then closes the pooled connections; later sends fail as temporary. */
  close(): Promise<void>;
}

interface SmtpError {
  code?: string;
  responseCode?: number;
  response?: string;
  message?: string;
}

/*
 * Only the relay's verdict on this mail is permanent: a 5xx to MAIL FROM, RCPT TO
 * or DATA, or an envelope nodemailer refuses before sending (no usable address).
 * A 5xx elsewhere (AUTH, STARTTLS) is our configuration, not the mail, and the
 * same mail will go through once the config is fixed; connection trouble and
 * 4xx are temporary by definition.
 */
function classify(error: SmtpError): { temporary: boolean; reason: string } {
  const reason = (error.response ?? error.message ?? String(error)).replace(/\s+/g, ' ').trim();
  const aboutThisMail = error.code === 'EENVELOPE' || error.code === 'EMESSAGE';
  const code = error.responseCode;
  const permanent = aboutThisMail && (code === undefined || (code >= 500 && code < 600));
  return { temporary: !permanent, reason: error.code && !reason.includes(error.code) ? `${error.code}: ${reason}` : reason };
}

/** `maxRequeues` is a pool option @types/nodemailer does not list yet. */
function transportOptions(config: RelayConfig): SMTPPool.Options & { maxRequeues: number } {
  const starttls = config.starttls ?? 'opportunistic';
  return {
    pool: true,
    // Notifications are few; two connections keep a burst of reports moving without crowding the relay.
    maxConnections: 2,
    maxMessages: 100,
    // A connection that closes mid-send is retried once by the pool, then reported (temporary) to the caller.
    maxRequeues: 1,
    host: config.host,
    port: config.port,
    secure: config.secure ?? false,
    requireTLS: !config.secure && starttls === 'require',
    ignoreTLS: !config.secure && starttls === 'off',
    opportunisticTLS: !config.secure && starttls === 'opportunistic',
    // Opportunistic TLS (RFC 7435) protects against listening, not against an active attacker who can
    // strip STARTTLS anyway, so an unverifiable certificate (a local relay's self-signed one) is accepted
    // there. `require` and `secure` verify the certificate.
    ...(starttls === 'opportunistic' && !config.secure ? { tls: { rejectUnauthorized: false } } : {}),
    ...(config.auth ? { auth: { user: config.auth.user, pass: config.auth.pass } } : {}),
    connectionTimeout: config.timeout,
    greetingTimeout: config.timeout,
    socketTimeout: config.timeout,
    dnsTimeout: config.timeout,
    // nodemailer's own logger would print the SMTP dialogue, AUTH included; ours logs outcomes only.
    logger: false,
    debug: false,
  };
}

/** Headers the relay owns: a caller's `headers` cannot remove or fake them. */
const RESERVED = new Set(['auto-submitted', NOTIFICATION_HEADER.toLowerCase()]);

export function createRelay(config: RelayConfig, deps: { logger: Logger }): Relay {
  const log = deps.logger.child({ stage: 'notify' });
  // The config (and with it the password) stays inside this closure; nothing below logs it.
  const transport = nodemailer.createTransport(transportOptions(config));
  const inFlight = new Set<Promise<RelaySendResult>>();
  let closed = false;

  async function deliver(mail: OutgoingMail): Promise<RelaySendResult> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(mail.headers ?? {})) {
      if (!RESERVED.has(name.toLowerCase())) headers[name] = value;
    }
    headers['Auto-Submitted'] = mail.autoSubmitted ?? 'auto-generated';
    headers[NOTIFICATION_HEADER] = mail.kind;
    const message: Mail.Options = {
      from: mail.fromName ? { name: mail.fromName, address: config.from } : config.from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      headers,
      // Ours, in the domain of `from`: nodemailer would take the envelope sender's domain, and a null sender has none (`@localhost`).
      messageId: `<${randomUUID()}@${config.from.slice(config.from.lastIndexOf('@') + 1)}>`,
      // An explicit envelope: `from: ''` is what makes nodemailer say MAIL FROM:<>.
      envelope: { from: mail.nullSender ? '' : config.from, to: [mail.to] },
      ...(mail.messageId ? { messageId: mail.messageId } : {}),
      ...(mail.replyTo ? { replyTo: mail.replyTo } : {}),
      ...(mail.inReplyTo ? { inReplyTo: mail.inReplyTo } : {}),
      ...(mail.references && mail.references.length > 0 ? { references: mail.references } : {}),
      ...(mail.attachments
        ? {
            // `attachment`, not nodemailer's default `inline` for message/rfc822: clients (and mailparser) would
            // otherwise show the forwarded mail as part of our text instead of as the original to open.
            attachments: mail.attachments.map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content, contentDisposition: 'attachment' as const })),
          }
        : {}),
    };
    try {
      const info = await transport.sendMail(message);
      const rejected = (info.rejected ?? []).map(String);
      if (rejected.length > 0) {
        // Not reached with one recipient (nodemailer throws), kept so a partial acceptance is never called a success.
        log.warn({ kind: mail.kind, to: mail.to, response: info.response }, 'notification refused by the relay');
        return { ok: false, temporary: false, reason: info.response };
      }
      const messageId = info.messageId;
      log.info({ kind: mail.kind, to: mail.to, messageId, nullSender: mail.nullSender }, 'notification sent');
      return { ok: true, messageId };
    } catch (error) {
      const verdict = classify(error as SmtpError);
      log.warn({ kind: mail.kind, to: mail.to, temporary: verdict.temporary, reason: verdict.reason }, 'notification not sent');
      return { ok: false, ...verdict };
    }
  }

  return {
    send(mail) {
      if (closed) return Promise.resolve({ ok: false, temporary: true, reason: 'the relay client is closed (shutting down)' });
      const pending = deliver(mail);
      inFlight.add(pending);
      void pending.finally(() => inFlight.delete(pending));
      return pending;
    },
    async close() {
      closed = true;
      // Each send ends within the transport's own timeouts, so this wait is bounded.
      await Promise.allSettled([...inFlight]);
      transport.close();
    },
  };
}
