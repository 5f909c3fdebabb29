import { createHash } from 'node:crypto';
import type { SMTPServerSession } from 'smtp-server';
import { maskNumber, type Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { Clock } from '../core/clock.js';
import { decideData, decideReply, timingOf } from '../intake/decide.js';
import { normaliseIp } from '../intake/policy.js';
import type { IntakeOutcome, Ledger } from '../ledger/types.js';
import { parseEmail } from '../message/parse.js';
import { acceptedReply } from './replies.js';
import { checkDkim, type DnsResolver } from './sender-auth.js';
import type { Sessions, Transaction } from './session.js';
import type { PostmasterForwarder } from './postmaster.js';

/** How long SPF and DKIM may take, DNS included, before the client is told to retry. */
export const SENDER_AUTH_TIMEOUT_MS = 10_000;

export interface DataHandlerDeps {
  ledger: Pick<Ledger, 'acceptMessage'>;
  sessions: Sessions;
  metrics: Metrics;
  clock: Clock;
  resolver?: DnsResolver;
  forwardToPostmaster: PostmasterForwarder;
}

function bodyHashOf(raw: Buffer): string {
  const headerEnd = raw.indexOf('\r\n\r\n');
  return createHash('sha256').update(headerEnd === -1 ? raw : raw.subarray(headerEnd + 4)).digest('hex');
}

/**
 * DATA: DKIM (needs the whole mail), parse, the one intake decision, then the
 * ledger's commit, and only then the 250. Throws the SMTP reply on refusal.
 */
export function createDataHandler(deps: DataHandlerDeps) {
  const { sessions, metrics } = deps;

  return async function handleData(session: SMTPServerSession, raw: Buffer): Promise<string> {
    const state = sessions.stateOf(session);
    const txn = state.txn as Transaction;
    const ref = sessions.refOf(session);
    const log = state.log.child({ ref });
    const setup = txn.sender?.setup;
    if (setup?.authorize.dkim && txn.numbers.size > 0) {
      const failure = await checkDkim({ raw, envelopeSender: txn.mailFrom, resolver: deps.resolver, timeoutMs: SENDER_AUTH_TIMEOUT_MS });
      if (failure) throw sessions.refuse(session, failure);
    }
    const email = await parseEmail(raw);
    const envelope = {
      mailFrom: txn.mailFrom,
      setup,
      numbers: [...txn.numbers.keys()],
      postmaster: txn.postmaster,
      clientIp: normaliseIp(session.remoteAddress),
      sessionRef: ref,
    };
    const now = deps.clock.now();
    const decision = decideData(state.config, envelope, email, bodyHashOf(raw), now);
    const { verdict } = decision;
    if (verdict.action === 'refuse' && verdict.refusal.code === 'notification_loop') {
      log.warn({ from: txn.mailFrom, kind: email.notification }, 'mail2sms notification received back; refused to stop a loop');
    }
    if (decision.forwardToPostmaster) await deps.forwardToPostmaster(session, raw, email.subject);
    if (verdict.action === 'refuse') throw sessions.refuse(session, verdict.refusal);
    if (verdict.action === 'discard') {
      log.info({ from: txn.mailFrom, bytes: raw.length }, verdict.why);
      return acceptedReply(verdict.acceptance, ref);
    }
    if (verdict.warnings.length > 0) log.info({ warnings: verdict.warnings, segments: verdict.message.measure.segments }, 'sms text built with warnings');
    const outcome = await deps.ledger.acceptMessage(verdict.message);
    const msgLog = log.child({ qid: outcome.queueId });
    if (outcome.duplicate) msgLog.info({ from: txn.mailFrom, messageId: email.messageId }, 'retried mail: already accepted, no new SMS');
    else logDecisions(msgLog, metrics, outcome, verdict.message.setupId, verdict.message.measure.segments);
    const reply = decideReply(verdict.setup, outcome, timingOf(verdict.setup, verdict.message, now));
    if (!reply.ok) throw sessions.refuse(session, reply.refusal);
    return acceptedReply(reply.acceptance, ref);
  };
}

function logDecisions(log: Logger, metrics: Metrics, outcome: IntakeOutcome, setupId: string, segments: number): void {
  metrics.inc('mail2sms_mails_accepted_total');
  for (const decision of outcome.decisions) {
    metrics.inc('mail2sms_recipients_total', { decision: decision.outcome === 'suppressed' ? `suppressed_${decision.reason ?? 'other'}` : decision.outcome });
    const to = maskNumber(decision.recipient);
    if (decision.outcome === 'queued') log.info({ to, setup: setupId, segments }, 'sms queued');
    else if (decision.outcome === 'duplicate') log.info({ to }, 'recipient already queued by an earlier copy of this mail');
    else log.info({ to, reason: decision.reason, detail: decision.detail }, 'recipient suppressed');
  }
}
