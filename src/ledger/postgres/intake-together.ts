import { newQueueId } from '../queue-id.js';
import type { IntakeMessage, IntakeOutcome, PersonalRecipient, RecipientDecision, RuleVerdict } from '../types.js';
import {
  dedupKey, HAD_STOP_CLAUSE, INSERT_MESSAGE, INSERT_OUTBOX, INSERT_QUEUED, messageParams, ownTextParams, RETRY_WINDOW_MS,
} from './intake.js';
import { inlineSql, type Tx } from './pool.js';
import { EVALUATE_SQL, evaluateParams, verdictOf } from './rules.js';

/*
 * Intake in two round trips instead of 3 + 2 per recipient: the reads go with
 * BEGIN and the number locks (every statement of that text sees what was
 * committed before it began, so the reads see whatever an earlier holder of
 * a lock committed), and the writes go with the COMMIT. Decisions and rows
 * are those of acceptOn (intake.ts), which stays the path for the mails whose
 * recipients cannot be decided together.
 */

/**
 * PostgreSQL parses a multi-statement text whole before it runs any of it: a
 * mail to a group of thousands would make one text of thousands of rule reads.
 * Beyond this, one recipient after the other (two round trips each, as before).
 */
const MAX_TOGETHER = 100;

/**
 * Whether each recipient's decision depends only on that number's own facts,
 * so all can be read before any is written. Not with a setup daily_limit (it
 * counts the reservations of the recipients before, in this very mail), nor
 * for a mail answering an SMS reply (its rules depend on a read first).
 */
export function decidableTogether(message: IntakeMessage): boolean {
  return message.rules.dailyLimit === null && message.answersThread === undefined && message.recipients.length <= MAX_TOGETHER;
}

/** Which recipients (by position) need the rules and which need the STOP-clause check. */
function layout(message: IntakeMessage): { ruled: number[]; clauseChecked: number[] } {
  const ruled: number[] = [];
  const clauseChecked: number[] = [];
  message.recipients.forEach((_, position) => {
    const personal = message.personal?.[position];
    if (personal?.suppress) return;
    ruled.push(position);
    if (message.stopClauseOnce && clauseMayGo(message, personal)) clauseChecked.push(position);
  });
  return { ruled, clauseChecked };
}

/** The clause was appended, and a text without it exists: it may be left out when the number had it within the period. */
function clauseMayGo(message: IntakeMessage, personal: PersonalRecipient | undefined): boolean {
  const appended = personal?.sms ? personal.sms.stopClauseAppended : message.stopClauseAppended;
  const withoutClause = personal?.sms ? personal.sms.textNoClause !== undefined : message.stopClauseOnce !== undefined;
  return appended && withoutClause;
}

/** The statements read with BEGIN: earlier copies of this mail, then the rules' facts per recipient, then the STOP-clause checks. */
export function togetherReads(message: IntakeMessage, now: number): string[] {
  const keys = message.recipients.map((recipient) => dedupKey(message, recipient)).filter((key): key is string => key !== null);
  const { ruled, clauseChecked } = layout(message);
  return [
    inlineSql(`SELECT dedup_key AS key, message_id AS "queueId" FROM outbox WHERE dedup_key = ANY(string_to_array($1, ',')) AND created_at > $2`,
      [keys.join(','), now - RETRY_WINDOW_MS]),
    ...ruled.map((position) => inlineSql(EVALUATE_SQL, evaluateParams(message.recipients[position]!, message.rules, now))),
    ...clauseChecked.map((position) => inlineSql(HAD_STOP_CLAUSE, [message.recipients[position]!, now - message.stopClauseOnce!.periodMs])),
  ];
}

/** Decides from the reads of togetherReads (tx.leading) and leaves the rows for the COMMIT. */
export function acceptTogether(message: IntakeMessage, now: number, tx: Tx): IntakeOutcome {
  const { ruled, clauseChecked } = layout(message);
  const [originalRows, ...facts] = tx.leading;
  const originals = new Map((originalRows?.rows ?? []).map((row: { key: string; queueId: string }) => [row.key, row.queueId]));
  const verdicts = new Map(ruled.map((position, i) => [position, verdictOf(facts[i]!.rows[0], message.rules, now)]));
  const hadClause = new Set(clauseChecked.filter((_, i) => (facts[ruled.length + i]?.rowCount ?? 0) > 0));

  const decisions: RecipientDecision[] = [];
  let originalQueueId: string | undefined;
  const fresh: { position: number; key: string | null }[] = [];
  message.recipients.forEach((recipient, position) => {
    const key = dedupKey(message, recipient);
    const original = key ? originals.get(key) : undefined;
    if (!original) return void fresh.push({ position, key });
    originalQueueId ??= original;
    decisions.push({ recipient, outcome: 'duplicate' });
  });
  if (fresh.length === 0 && originalQueueId) return { queueId: originalQueueId, duplicate: true, decisions };

  const queueId = newQueueId(now);
  tx.beforeCommit(inlineSql(INSERT_MESSAGE, messageParams(message, queueId, now)));
  fresh.forEach(({ position, key }, index) => {
    const row = { queueId, recipient: message.recipients[position]!, key, index, personal: message.personal?.[position] };
    const stopClause = (row.personal?.sms ? row.personal.sms.stopClauseAppended : message.stopClauseAppended) && !hadClause.has(position) ? 1 : 0;
    decisions.push(decide(message, row, verdicts.get(position), stopClause, now, tx));
  });
  return { queueId, duplicate: false, decisions };
}

/** One recipient's row, as decideRecipient (intake.ts) writes it; `verdict` is undefined when intake itself suppressed it. */
function decide(
  message: IntakeMessage,
  row: { queueId: string; recipient: string; key: string | null; index: number; personal: PersonalRecipient | undefined },
  verdict: RuleVerdict | undefined,
  stopClause: number,
  now: number,
  tx: Tx,
): RecipientDecision {
  const { queueId, recipient } = row;
  const own = ownTextParams(row.personal);
  const suppressed = (reason: string, blockedUntil: number | null, detail: string) =>
    tx.beforeCommit(`WITH o AS (${inlineSql(INSERT_OUTBOX, [queueId, recipient, 'suppressed', reason, blockedUntil, row.key, `${queueId}.${row.index}`, now, null, 0, message.setupId, ...own])})
      ${inlineSql(`INSERT INTO events (at, outbox_id, message_id, type, detail) SELECT $1, id, $2, 'suppressed', $3 FROM o`, [now, queueId, detail])}`);
  const why = row.personal?.suppress;
  if (why) {
    // Intake itself ruled it out (a merge field missing, a country): recorded like any suppression, no reservation.
    suppressed(why.reason, null, `${why.reason}: ${why.detail}`);
    return { recipient, outcome: 'suppressed', reason: why.reason, detail: why.detail };
  }
  if (!verdict) throw new Error(`no verdict read for ${recipient}`);
  if (verdict.allowed) {
    const dueAt = message.sendAt !== undefined && message.sendAt > now ? message.sendAt : null;
    tx.beforeCommit(inlineSql(INSERT_QUEUED, [
      queueId, recipient, row.key, `${queueId}.${row.index}`, now, Math.max(now, message.sendAt ?? now), stopClause, message.setupId,
      message.rules.purpose?.name ?? null, dueAt, ...own,
    ]));
    return { recipient, outcome: 'queued' };
  }
  const blockedUntil = verdict.until ?? null;
  suppressed(verdict.reason, blockedUntil, `${verdict.reason}: ${verdict.detail}`);
  return { recipient, outcome: 'suppressed', reason: verdict.reason, detail: verdict.detail, ...(blockedUntil ? { blockedUntil } : {}) };
}
