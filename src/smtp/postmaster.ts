import type { SMTPServerSession } from 'smtp-server';
import { refusal } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import type { Clock } from '../core/clock.js';
import { normaliseIp } from '../intake/policy.js';
import type { Relay } from '../notify/relay.js';
import { buildPostmasterForward } from '../notify/postmaster.js';
import type { Sessions, Transaction } from './session.js';

export type PostmasterForwarder = (session: SMTPServerSession, raw: Buffer, subject: string | undefined) => Promise<void>;

/**
 * Mail to postmaster@<sms domain> goes to the admin through the relay before
 * we answer: there is no queue for it, so 250 is only said once the relay has
 * the mail, and a relay that cannot take it now means 451 (the client keeps
 * the mail and retries). Throws the SMTP reply on failure.
 */
export function createPostmasterForwarder(deps: { sessions: Sessions; metrics: Metrics; clock: Clock; relay?: Relay }): PostmasterForwarder {
  const { sessions, metrics } = deps;
  return async (session, raw, subject) => {
    const state = sessions.stateOf(session);
    const txn = state.txn as Transaction;
    const log = state.log.child({ ref: sessions.refOf(session) });
    const admin = state.config.main.notify?.admin ?? state.config.main.postmaster;
    // As intake/policy.ts accepts them: postmaster@<sms domain>, or bare `postmaster` (RFC 5321 §4.5.1).
    const rcpt = [...txn.addresses].filter((address) => address === 'postmaster' || address.startsWith('postmaster@'));
    // A subject can hold numbers (and is the SMS text with `text: subject`): at info/warn only with log.content.
    const about = state.config.main.log.content ? { subject } : {};
    log.debug({ subject }, 'postmaster mail subject');
    if (!deps.relay || !admin) {
      const why = deps.relay ? 'neither notify.admin nor postmaster is configured' : 'no notify relay is configured';
      log.warn({ from: txn.mailFrom, rcpt, ...about }, `mail for postmaster received; not forwarded (${why}), it is logged only`);
      return;
    }
    const result = await deps.relay.send(
      buildPostmasterForward({
        admin,
        envelopeFrom: txn.mailFrom,
        rcpt,
        clientIp: normaliseIp(session.remoteAddress),
        raw,
        receivedAt: deps.clock.now(),
        ...(subject ? { originalSubject: subject } : {}),
      }),
    );
    metrics.inc('mail2sms_notifications_total', { kind: 'postmaster', result: result.ok ? 'sent' : result.temporary ? 'deferred' : 'refused' });
    if (result.ok) {
      log.info({ from: txn.mailFrom, rcpt, admin, ...about }, 'mail for postmaster forwarded');
      return;
    }
    // The relay's own words stay in our log: they may name the admin address.
    if (result.temporary) {
      throw sessions.refuse(session, refusal('postmaster_unavailable', 'Cannot forward mail for postmaster right now, try again later'), { admin, reason: result.reason });
    }
    throw sessions.refuse(session, refusal('postmaster_refused', 'Mail for postmaster cannot be delivered: the forwarding relay refused it'), { admin, reason: result.reason });
  };
}
