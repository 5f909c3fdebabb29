import { hash } from 'node:crypto';
import type { SMTPServerSession } from 'smtp-server';
import { maskNumber, type Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { Clock } from '../core/clock.js';
import { contactFields, decideData, decideReply, mayUseMergeFields, timingOf, type DataEnvelope } from '../intake/decide.js';
import { normaliseIp, parseLimitsOf } from '../intake/policy.js';
import type { IntakeMessage, IntakeOutcome, Ledger } from '../ledger/types.js';
import type { BoundedParse } from '../message/parse-within-limits.js';
import { parseSimpleEmail } from '../message/plain-text-fast-path.js';
import { refusal } from '../core/errors.js';
import type { Config } from '../config/load.js';
import type { ParsePool } from './parse-pool.js';
import { acceptedReply } from './replies.js';
import { checkDkim, type DnsResolver } from './sender-auth.js';
import type { Sessions, Transaction } from './session.js';
import type { PostmasterForwarder } from './postmaster.js';

/** How long SPF and DKIM may take, DNS included, before the client is told to retry. */
export const SENDER_AUTH_TIMEOUT_MS = 10_000;

export interface DataHandlerDeps {
  ledger: Pick<Ledger, 'acceptMessage' | 'contactsByNumber'>;
  sessions: Sessions;
  metrics: Metrics;
  clock: Clock;
  resolver?: DnsResolver;
  forwardToPostmaster: PostmasterForwarder;
  parsePool: ParsePool;
}

/** The common single-part plain text mail is parsed here (linear and cheap); anything else by the pool, within the limits. */
async function parseWithin(pool: ParsePool, config: Config, raw: Buffer): Promise<BoundedParse> {
  const simple = parseSimpleEmail(raw);
  // A subject that does not decode goes the long way, to be refused there like any undecodable text.
  if (simple && !simple.subject?.includes('\ufffd')) return { ok: true, email: simple };
  return pool.parse(raw, parseLimitsOf(config), config.main.smtp.parse_timeout);
}

function bodyHashOf(raw: Buffer): string {
  const headerEnd = raw.indexOf('\r\n\r\n');
  // One-shot crypto.hash (Node 20.12+): a third of createHash's cost for a 1 KB body.
  return hash('sha256', headerEnd === -1 ? raw : raw.subarray(headerEnd + 4), 'hex');
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
    // The session's logger with the ref as a field: a child per transaction would cost a serialisation per mail.
    const log = state.log;
    const setup = txn.sender?.setup;
    if (setup?.authorize.dkim && txn.numbers.size > 0) {
      const failure = await checkDkim({ raw, envelopeSender: txn.mailFrom, resolver: deps.resolver, timeoutMs: SENDER_AUTH_TIMEOUT_MS });
      if (failure) throw sessions.refuse(session, failure);
    }
    const parsed = await parseWithin(deps.parsePool, state.config, raw);
    if (!parsed.ok) throw sessions.refuse(session, refusal(parsed.code, `Message refused: ${parsed.reason}`));
    const { email } = parsed;
    const numbers = [...txn.numbers.keys()];
    // Merge fields of directly addressed numbers come from their contacts: looked up only when the mail may use them.
    const contacts = setup && numbers.length > 0 && mayUseMergeFields(email) ? contactFields(await deps.ledger.contactsByNumber(numbers)) : undefined;
    const envelope: DataEnvelope = {
      mailFrom: txn.mailFrom,
      setup,
      numbers,
      postmaster: txn.postmaster,
      clientIp: normaliseIp(session.remoteAddress),
      sessionRef: ref,
      ...(txn.groups.size > 0 ? { groups: [...txn.groups].map(([name, members]) => ({ name, members })) } : {}),
      ...(contacts ? { contacts } : {}),
    };
    const now = deps.clock.now();
    const decision = decideData(state.config, envelope, email, bodyHashOf(raw), now);
    const { verdict } = decision;
    if (verdict.action === 'refuse' && verdict.refusal.code === 'notification_loop') {
      log.warn({ ref, from: txn.mailFrom, kind: email.notification }, 'mail2sms notification received back; refused to stop a loop');
    }
    if (decision.forwardToPostmaster) await deps.forwardToPostmaster(session, raw, email.subject);
    if (verdict.action === 'refuse') throw sessions.refuse(session, verdict.refusal);
    if (verdict.action === 'discard') {
      log.info({ ref, from: txn.mailFrom, bytes: raw.length }, verdict.why);
      return acceptedReply(verdict.acceptance, ref);
    }
    const outcome = await deps.ledger.acceptMessage(verdict.message);
    if (outcome.duplicate) log.info({ ref, qid: outcome.queueId, from: txn.mailFrom, messageId: email.messageId }, 'retried mail: already accepted, no new SMS');
    else logDecisions(log, { ref, qid: outcome.queueId }, metrics, outcome, verdict);
    const reply = decideReply(verdict.setup, outcome, timingOf(verdict.setup, verdict.message, now), verdict.viaGroups);
    if (!reply.ok) throw sessions.refuse(session, reply.refusal);
    return acceptedReply(reply.acceptance, ref);
  };
}

/**
 * The first of the two info lines an SMS has (the other is its outcome, at
 * dispatch): its decision, with the text's warnings (a truncation) on it.
 */
function logDecisions(log: Logger, ids: { ref: string; qid: string }, metrics: Metrics, outcome: IntakeOutcome, verdict: { message: IntakeMessage; warnings: readonly string[] }): void {
  const { message } = verdict;
  // Fixed-shape literals, absent fields undefined (pino leaves them out): a
  // leading spread ({ ...ids, … }) gives every object a hidden class of its
  // own in V8 (Node 20), ~4 µs a line against ~0.3.
  const warnings = verdict.warnings.length > 0 ? verdict.warnings : undefined;
  metrics.inc('mail2sms_mails_accepted_total');
  // The groups and own text of each recipient, by number (decisions may leave out a retried mail's duplicates).
  const personal = new Map(message.personal?.map((p, i) => [message.recipients[i] as string, p]));
  for (const decision of outcome.decisions) {
    metrics.inc('mail2sms_recipients_total', { decision: decision.outcome === 'suppressed' ? `suppressed_${decision.reason ?? 'other'}` : decision.outcome });
    const to = maskNumber(decision.recipient);
    const own = personal.get(decision.recipient);
    const groups = own && own.groups.length > 0 ? own.groups : undefined;
    const segments = own?.sms?.measure.segments ?? message.measure.segments;
    if (decision.outcome === 'queued') log.info({ ref: ids.ref, qid: ids.qid, to, setup: message.setupId, segments, warnings, groups }, 'sms queued');
    else if (decision.outcome === 'duplicate') log.info({ ref: ids.ref, qid: ids.qid, to }, 'recipient already queued by an earlier copy of this mail');
    else log.info({ ref: ids.ref, qid: ids.qid, to, reason: decision.reason, detail: decision.detail, warnings, groups }, 'recipient suppressed');
  }
}
