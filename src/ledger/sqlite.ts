import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { StorageError } from '../core/errors.js';
import type { Db } from './db.js';
import { compileSendingWindow, type CompiledWindow, type SendingWindow } from '../core/window.js';
import { createRuleReader } from './rules.js';
import { createConsentStore } from './consent.js';
import { createNotifyQueries } from './notify-queries.js';
import type {
  ClaimedSms,
  InboundOutcome,
  InboundRecord,
  IntakeMessage,
  IntakeOutcome,
  Ledger,
  OutboxRow,
  OutboxStatus,
  Receipt,
  ReceiptOutcome,
  ReceiptStatus,
  RecipientDecision,
} from './types.js';

const RETRY_WINDOW_MS = 24 * 3_600_000;
/** The setup id of answers to keywords (confirmation, help): no setup file sends them. */
export const KEYWORD_SETUP = '(keywords)';

export interface SqliteLedgerDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  /**
   * How long writes nobody waits on (sent, retry, receipts) may wait to share a
   * commit with others (ms). Intake and claims commit on the next turn of the
   * event loop, which already batches everything that finished in the same turn.
   */
  bookkeepingDelayMs?: number;
  /** Upper bound of writes in one transaction. */
  maxBatch?: number;
  /** How long a receipt for an unknown provider id stays parked (default 10 min). */
  receiptGraceMs?: number;
}

function newQueueId(now: number): string {
  return (now.toString(36) + randomBytes(4).toString('hex')).toUpperCase();
}

function dedupKey(message: IntakeMessage, recipient: string): string | null {
  if (!message.headerMessageId) return null;
  return createHash('sha256')
    .update([message.mailFrom, message.headerMessageId, message.bodyHash, recipient].join('\0'))
    .digest('hex');
}

/** Final statuses a receipt may not move away from. */
const TERMINAL: ReadonlySet<OutboxStatus> = new Set(['delivered', 'failed', 'expired', 'rejected', 'suppressed']);

export function createSqliteLedger(deps: SqliteLedgerDeps): Ledger {
  const { db, clock, logger } = deps;
  const bookkeepingDelayMs = deps.bookkeepingDelayMs ?? 10;
  const maxBatch = deps.maxBatch ?? 1024;
  const receiptGraceMs = deps.receiptGraceMs ?? 600_000;
  const listeners: (() => void)[] = [];

  const rules = createRuleReader(db);
  const consent = createConsentStore(db);
  const notify = createNotifyQueries(db);
  const stmt = {
    findDuplicate: db.prepare('SELECT message_id AS queueId FROM outbox WHERE dedup_key = ? AND created_at > ? LIMIT 1'),
    insertMessage: db.prepare(
      `INSERT INTO messages (id, received_at, setup_id, mail_from, header_message_id, body_hash, client_ip, session_ref,
         sender_name, sms_text, encoding, segments, characters, cooldown_ms, purpose, sms_text_no_clause,
         subject, expires_at, send_at, sending_window, on_unknown, report_mode)
       VALUES (@id, @receivedAt, @setupId, @mailFrom, @headerMessageId, @bodyHash, @clientIp, @sessionRef,
         @senderName, @text, @encoding, @segments, @characters, @cooldownMs, @purpose, @textNoClause,
         @subject, @expiresAt, @sendAt, @sendingWindow, @onUnknown, @reportMode)`,
    ),
    insertOutbox: db.prepare(
      `INSERT INTO outbox (message_id, recipient, status, reason, blocked_until, dedup_key, idempotency_key,
         created_at, updated_at, next_attempt_at, stop_clause, setup_id)
       VALUES (@queueId, @recipient, @status, @reason, @blockedUntil, @dedupKey, @idempotencyKey, @now, @now, @nextAttemptAt, @stopClause, @setupId)`,
    ),
    insertReservation: db.prepare(
      `INSERT INTO sends (recipient, channel, outbox_id, setup_id, state, reserved_at, purpose, due_at) VALUES (?, ?, ?, ?, 'reserved', ?, ?, ?)`,
    ),
    deferReservation: db.prepare(`UPDATE sends SET due_at = @at WHERE outbox_id = @id AND state = 'reserved'`),
    hadStopClause: db.prepare(
      `SELECT 1 FROM outbox WHERE recipient = ? AND stop_clause = 1 AND created_at > ? AND status NOT IN ('suppressed', 'failed', 'expired', 'rejected') LIMIT 1`,
    ).pluck(),
    insertInbound: db.prepare(
      `INSERT INTO inbound_messages (received_at, provider_id, sender, recipient, text, keyword, action)
       VALUES (@receivedAt, @providerId, @from, @to, @text, @kind, @action)
       ON CONFLICT (provider_id) DO NOTHING`,
    ),
    inboundByProviderId: db.prepare('SELECT id, action FROM inbound_messages WHERE provider_id = ?'),
    suppressClaimed: db.prepare(
      `UPDATE outbox SET status = 'suppressed', reason = ?, blocked_until = ?, final_at = ?, updated_at = ?, lease_until = NULL
        WHERE id = ? AND status = 'sending'`,
    ),
    insertEvent: db.prepare('INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
    // Two queries, not one with OR: each walks its partial index in order and
    // stops at the limit, where an OR would collect every due row and sort them.
    expiredLeases: db.prepare(`SELECT id FROM outbox WHERE status = 'sending' AND lease_until <= @now ORDER BY lease_until LIMIT @limit`),
    due: db.prepare(`SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= @now ORDER BY next_attempt_at LIMIT @limit`),
    lease: db.prepare(
      `UPDATE outbox SET status = 'sending', lease_until = @leaseUntil, attempts = attempts + 1, updated_at = @now
        WHERE id = @id
        RETURNING id, message_id AS queueId, recipient, idempotency_key AS idempotencyKey, attempts, status, stop_clause AS stopClause,
          created_at AS createdAt`,
    ),
    claimDetails: db.prepare(
      `SELECT sender_name AS senderName, CASE WHEN @stopClause = 0 AND sms_text_no_clause IS NOT NULL THEN sms_text_no_clause ELSE sms_text END AS text,
              setup_id AS setupId, cooldown_ms AS cooldownMs, purpose, expires_at AS expiresAt, sending_window AS sendingWindow,
              on_unknown AS onUnknown FROM messages WHERE id = @queueId`,
    ),
    dueForSetup: db.prepare(
      `SELECT id FROM outbox WHERE status = 'queued' AND setup_id = @setupId AND next_attempt_at <= @now ORDER BY next_attempt_at LIMIT @limit`,
    ),
    queuedSetups: db.prepare(`SELECT DISTINCT setup_id AS setupId FROM outbox WHERE status = 'queued'`).pluck(),
    defer: db.prepare(
      `UPDATE outbox SET status = 'queued', next_attempt_at = @at, attempts = attempts - 1, lease_until = NULL, updated_at = @now
        WHERE id = @id AND status = 'sending'`,
    ),
    expire: db.prepare(
      `UPDATE outbox SET status = 'expired', reason = @reason, final_at = @now, updated_at = @now, lease_until = NULL
        WHERE id = @id AND status IN ('queued', 'sending')`,
    ),
    markUnknown: db.prepare(
      `UPDATE outbox SET status = 'unknown', reason = ?, final_at = ?, updated_at = ?, lease_until = NULL WHERE id = ? AND status = 'sending'`,
    ),
    upsertPart: db.prepare(
      `INSERT INTO receipt_parts (outbox_id, part, status, error_code, at) VALUES (@id, @part, @status, @errorCode, @now)
       ON CONFLICT (outbox_id, part) DO NOTHING`,
    ),
    partStatuses: db.prepare('SELECT part, status, error_code AS errorCode FROM receipt_parts WHERE outbox_id = ?'),
    parkedSince: db.prepare(`SELECT min(received_at) FROM receipts WHERE provider_message_id = ? AND outcome = 'parked'`).pluck(),
    parked: db.prepare(
      `SELECT id, status, error_code AS errorCode, part, parts, body FROM receipts WHERE provider_message_id = ? AND outcome = 'parked' ORDER BY id`,
    ),
    unpark: db.prepare('UPDATE receipts SET outcome = ? WHERE id = ?'),
    nextDue: db.prepare(
      `SELECT min(t) AS t FROM (
         SELECT min(next_attempt_at) AS t FROM outbox WHERE status = 'queued'
         UNION ALL SELECT min(lease_until) FROM outbox WHERE status = 'sending')`,
    ),
    markSent: db.prepare(
      `UPDATE outbox SET status = 'sent', provider_message_id = ?, parts = ?, sent_at = ?, updated_at = ?, lease_until = NULL
        WHERE id = ? AND status = 'sending'`,
    ),
    sendsSent: db.prepare(`UPDATE sends SET state = 'sent', sent_at = ? WHERE outbox_id = ? AND state = 'reserved'`),
    markRetry: db.prepare(
      `UPDATE outbox SET status = 'queued', reason = ?, next_attempt_at = ?, updated_at = ?, lease_until = NULL
        WHERE id = ? AND status = 'sending'`,
    ),
    markFailed: db.prepare(
      `UPDATE outbox SET status = 'failed', reason = ?, final_at = ?, updated_at = ?, lease_until = NULL
        WHERE id = ? AND status IN ('queued', 'sending')`,
    ),
    release: db.prepare(`UPDATE sends SET state = 'released', released_at = ? WHERE outbox_id = ? AND state != 'released'`),
    byProviderId: db.prepare('SELECT id, status, message_id AS queueId, parts FROM outbox WHERE provider_message_id = ?'),
    finish: db.prepare(
      `UPDATE outbox SET status = @status, final_at = @now, updated_at = @now, provider_error = @errorCode,
         reason = CASE WHEN @status != 'delivered' THEN 'provider: ' || @status || coalesce(' (' || @errorCode || ')', '') ELSE reason END
        WHERE id = @id`,
    ),
    countQueued: db.prepare(`SELECT count(*) AS n FROM outbox WHERE status = 'queued'`),
    countSending: db.prepare(`SELECT count(*) AS n FROM outbox WHERE status = 'sending'`),
    insertReceipt: db.prepare(
      'INSERT INTO receipts (received_at, provider_message_id, status, error_code, outcome, body, part, parts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
  };

  function decide(message: IntakeMessage, queueId: string, now: number): IntakeOutcome {
    const decisions: RecipientDecision[] = [];
    let originalQueueId: string | undefined;
    const fresh: { recipient: string; key: string | null }[] = [];
    for (const recipient of message.recipients) {
      const key = dedupKey(message, recipient);
      const original = key ? (stmt.findDuplicate.get(key, now - RETRY_WINDOW_MS) as { queueId: string } | undefined) : undefined;
      if (original) {
        originalQueueId ??= original.queueId;
        decisions.push({ recipient, outcome: 'duplicate' });
      } else {
        fresh.push({ recipient, key });
      }
    }
    if (fresh.length === 0 && originalQueueId) return { queueId: originalQueueId, duplicate: true, decisions };

    stmt.insertMessage.run({
      id: queueId,
      receivedAt: now,
      setupId: message.setupId,
      mailFrom: message.mailFrom,
      headerMessageId: message.headerMessageId ?? null,
      bodyHash: message.bodyHash,
      clientIp: message.clientIp ?? null,
      sessionRef: message.sessionRef,
      senderName: message.senderName,
      text: message.text,
      encoding: message.measure.encoding,
      segments: message.measure.segments,
      characters: message.measure.characters,
      cooldownMs: message.rules.cooldownMs,
      purpose: message.rules.purpose?.name ?? null,
      textNoClause: message.stopClauseOnce?.text ?? null,
      subject: message.subject ?? null,
      expiresAt: message.expiresAt ?? null,
      sendAt: message.sendAt ?? null,
      sendingWindow: message.sendingWindow ? JSON.stringify(message.sendingWindow) : null,
      onUnknown: message.onUnknown ?? 'retry',
      reportMode: message.reportMode ?? null,
    });
    fresh.forEach(({ recipient, key }, index) => {
      // A row never blocks itself: the check runs before this row's reservation exists,
      // and the reservation is written in the same transaction.
      const verdict = rules.evaluate(recipient, message.rules, now);
      const blockedUntil = verdict.allowed ? null : (verdict.until ?? null);
      let stopClause = message.stopClauseAppended ? 1 : 0;
      if (stopClause && message.stopClauseOnce && stmt.hadStopClause.get(recipient, now - message.stopClauseOnce.periodMs)) stopClause = 0;
      const row = {
        queueId,
        recipient,
        status: verdict.allowed ? 'queued' : 'suppressed',
        reason: verdict.allowed ? null : verdict.reason,
        blockedUntil,
        dedupKey: key,
        idempotencyKey: `${queueId}.${index}`,
        now,
        nextAttemptAt: verdict.allowed ? Math.max(now, message.sendAt ?? now) : null,
        stopClause: verdict.allowed ? stopClause : 0,
        setupId: message.setupId,
      };
      const outboxId = Number(stmt.insertOutbox.run(row).lastInsertRowid);
      if (!verdict.allowed) {
        stmt.insertEvent.run(now, outboxId, queueId, 'suppressed', `${verdict.reason}: ${verdict.detail}`);
        decisions.push({ recipient, outcome: 'suppressed', reason: verdict.reason, detail: verdict.detail, ...(blockedUntil ? { blockedUntil } : {}) });
      } else {
        const dueAt = message.sendAt !== undefined && message.sendAt > now ? message.sendAt : null;
        stmt.insertReservation.run(recipient, 'email', outboxId, message.setupId, now, message.rules.purpose?.name ?? null, dueAt);
        // No 'queued' event: the outbox row itself records it (created_at), one write less per SMS.
        decisions.push({ recipient, outcome: 'queued' });
      }
    });
    return { queueId, duplicate: false, decisions };
  }

  // Group commit: every write that arrives within one turn of the event loop
  // (mails whose DATA finished, sends recorded, receipts, claims) shares one
  // transaction and so one WAL fsync. Nobody is answered before that commit.
  // In the ledger thread a turn lasts as long as the previous commit, so the
  // batch grows with the load and the disk's latency.
  interface Write {
    run(now: number): unknown;
    /** Must be on disk before its promise resolves (an answer depends on it). */
    durable: boolean;
    resolve(value: unknown): void;
    reject(error: Error): void;
  }
  let writes: Write[] = [];
  let queuedSinceNotify = false;

  const runAll = db.transaction((batch: Write[], now: number) => batch.map((w) => w.run(now)));
  const runSingle = db.transaction((w: Write, now: number) => w.run(now));

  function flush(): void {
    clearTimeout(timer);
    timer = undefined;
    if (immediate) clearImmediate(immediate);
    immediate = undefined;
    const batch = writes.length > maxBatch ? writes.splice(0, maxBatch) : writes;
    if (batch === writes) writes = [];
    else scheduleFlush();
    if (batch.length === 0) return;
    const now = clock.now();
    // A batch that only claims rows or records sends needs no fsync of its own:
    // if the machine dies before the next durable commit syncs the WAL (which
    // carries it along), the rows are sent again under the same idempotency key.
    setSynchronous(batch.some((w) => w.durable) ? 'FULL' : 'NORMAL');
    let results: unknown[] | undefined;
    try {
      results = runAll(batch, now);
    } catch (error) {
      logger.warn({ err: error, batch: batch.length }, 'group commit failed; committing writes one by one');
      if ((error as { code?: string }).code === 'SQLITE_FULL') reclaimWal();
    }
    if (results) {
      batch.forEach((w, i) => w.resolve(results[i]));
    } else {
      // One bad write must not cost the others their commit.
      for (const w of batch) {
        try {
          setSynchronous(w.durable ? 'FULL' : 'NORMAL');
          w.resolve(runSingle(w, now));
        } catch (error) {
          w.reject(new StorageError(`ledger write failed: ${(error as Error).message}`, { cause: error }));
        }
      }
    }
    if (queuedSinceNotify) {
      queuedSinceNotify = false;
      for (const listener of listeners) listener();
    }
  }

  // When to commit. A client waits for intake and dispatch waits for claims:
  // those commit on the next turn of the event loop, together with whatever
  // else arrived by then. Bookkeeping nobody waits on (sent, retries,
  // receipts) rides along, or waits at most bookkeepingDelayMs.
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;

  function scheduleFlush(urgent = true): void {
    if (immediate) return;
    if (urgent) {
      clearTimeout(timer);
      timer = undefined;
      immediate = setImmediate(flush);
    } else {
      timer ??= setTimeout(flush, bookkeepingDelayMs);
    }
  }

  /**
   * On a full disk the WAL may be what fills it, and the checkpoint that would
   * let SQLite reuse it only runs after a successful commit. Copy it into the
   * database and truncate it, so the space is free for the next attempt.
   */
  function reclaimWal(): void {
    try {
      const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
      logger.warn({ checkpoint: result }, 'disk full: checkpointed and truncated the WAL');
    } catch (error) {
      logger.error({ err: error }, 'disk full: could not checkpoint the WAL');
    }
  }

  let synchronous = 'FULL';
  function setSynchronous(mode: 'FULL' | 'NORMAL'): void {
    if (mode === synchronous) return;
    db.pragma(`synchronous = ${mode}`);
    synchronous = mode;
  }

  function write<T>(run: (now: number) => T, options: { urgent: boolean; durable: boolean }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      writes.push({ run, durable: options.durable, resolve: resolve as (value: unknown) => void, reject });
      scheduleFlush(options.urgent);
    });
  }

  function accept(message: IntakeMessage, now: number): IntakeOutcome {
    activeSetups.add(message.setupId);
    const outcome = decide(message, newQueueId(now), now);
    if (outcome.decisions.some((d) => d.outcome === 'queued')) queuedSinceNotify = true;
    return outcome;
  }

  // Setups with rows queued: dispatch takes turns between them, so a flood
  // from one setup does not starve the others. Seeded once from the ledger,
  // then kept up to date by intake (a drained setup costs one index probe).
  const activeSetups = new Set<string>(stmt.queuedSetups.all() as string[]);
  let turn = 0;
  const windows = new Map<string, CompiledWindow>();
  function windowOf(json: string): CompiledWindow {
    let compiled = windows.get(json);
    if (!compiled) {
      compiled = compileSendingWindow(JSON.parse(json) as SendingWindow);
      if (windows.size > 1000) windows.clear();
      windows.set(json, compiled);
    }
    return compiled;
  }

  /** Up to `limit` due rows, interleaved across setups, oldest first within each. */
  function dueRows(limit: number, now: number): number[] {
    const setups = [...activeSetups];
    if (setups.length <= 1) {
      return (stmt.due.all({ now, limit }) as { id: number }[]).map((r) => r.id);
    }
    const start = turn++ % setups.length;
    const lists = setups.map((_, i) => {
      const setupId = setups[(start + i) % setups.length] as string;
      return (stmt.dueForSetup.all({ setupId, now, limit }) as { id: number }[]).map((r) => r.id);
    });
    const ids: number[] = [];
    for (let round = 0; ids.length < limit && lists.some((l) => l.length > round); round++) {
      for (const list of lists) {
        const id = list[round];
        if (id !== undefined && ids.length < limit) ids.push(id);
      }
    }
    return ids;
  }

  function claim(limit: number, leaseMs: number, now: number): ClaimedSms[] {
    const ids = (stmt.expiredLeases.all({ now, limit }) as { id: number }[]).map((r) => r.id);
    if (ids.length < limit) ids.push(...dueRows(limit - ids.length, now));
    const claimed: ClaimedSms[] = [];
    for (const id of ids) {
      const row = stmt.lease.get({ id, now, leaseUntil: now + leaseMs }) as
        | { id: number; queueId: string; recipient: string; idempotencyKey: string; attempts: number; stopClause: number; createdAt: number }
        | undefined;
      if (!row) continue;
      const details = stmt.claimDetails.get({ queueId: row.queueId, stopClause: row.stopClause }) as {
        senderName: string;
        text: string;
        setupId: string;
        cooldownMs: number | null;
        purpose: string | null;
        expiresAt: number | null;
        sendingWindow: string | null;
        onUnknown: 'retry' | 'fail';
      };
      if (details.expiresAt !== null && now >= details.expiresAt) {
        const reason = `max_age: not sent by ${new Date(details.expiresAt).toISOString()}`;
        stmt.expire.run({ id: row.id, reason, now });
        stmt.release.run(now, row.id);
        stmt.insertEvent.run(now, row.id, row.queueId, 'expired', reason);
        logger.info({ qid: row.queueId, outbox: row.id }, 'sms expired before it could be sent (max_age)');
        continue;
      }
      if (details.sendingWindow !== null) {
        const window = windowOf(details.sendingWindow);
        if (!window.isOpen(now)) {
          const opening = window.nextOpening(now);
          // An SMS that would expire before the window opens is retried at its expiry, and expires then.
          const at = details.expiresAt !== null ? Math.min(opening, details.expiresAt) : opening;
          stmt.defer.run({ id: row.id, at, now });
          stmt.deferReservation.run({ id: row.id, at });
          stmt.insertEvent.run(now, row.id, row.queueId, 'deferred', `outside the sending window; next opening ${new Date(opening).toISOString()}`);
          continue;
        }
      }
      // The rules again, now that the SMS is about to go: a STOP, a revoked
      // opt-in or another channel's SMS since intake wins over the queued row.
      const verdict = rules.recheck(row.recipient, { cooldownMs: details.cooldownMs, purpose: details.purpose, outboxId: row.id }, now);
      if (!verdict.allowed) {
        stmt.suppressClaimed.run(verdict.reason, verdict.until ?? null, now, now, row.id);
        stmt.release.run(now, row.id);
        stmt.insertEvent.run(now, row.id, row.queueId, 'suppressed', `at send time: ${verdict.reason}: ${verdict.detail}`);
        logger.info({ qid: row.queueId, outbox: row.id, reason: verdict.reason }, 'suppressed at send time');
        continue;
      }
      stmt.insertEvent.run(now, row.id, row.queueId, 'claimed', `attempt ${row.attempts}`);
      claimed.push({
        outboxId: row.id,
        queueId: row.queueId,
        recipient: row.recipient,
        senderName: details.senderName,
        text: details.text,
        setupId: details.setupId,
        idempotencyKey: row.idempotencyKey,
        attempt: row.attempts,
        createdAt: row.createdAt,
        onUnknown: details.onUnknown,
      });
    }
    return claimed;
  }

  function sent(outboxId: number, providerMessageId: string, parts: number | undefined, now: number): void {
    const changed = stmt.markSent.run(providerMessageId, parts ?? null, now, now, outboxId).changes;
    if (changed === 0) return;
    stmt.sendsSent.run(now, outboxId);
    stmt.insertEvent.run(now, outboxId, null, 'sent', `provider id ${providerMessageId}${parts && parts > 1 ? ` (${parts} parts)` : ''}`);
    // Receipts that beat the send's own answer here.
    for (const p of stmt.parked.all(providerMessageId) as { id: number; status: ReceiptStatus; errorCode: string | null; part: number | null; parts: number | null; body: string }[]) {
      const outcome = applyToRow(
        { providerMessageId, status: p.status, rawBody: p.body, ...(p.errorCode ? { errorCode: p.errorCode } : {}), ...(p.part ? { part: p.part } : {}), ...(p.parts ? { parts: p.parts } : {}) },
        now,
      );
      stmt.unpark.run(`parked, then ${outcome}`, p.id);
    }
  }

  function unknown(outboxId: number, reason: string, now: number): void {
    if (stmt.markUnknown.run(reason, now, now, outboxId).changes === 0) return;
    // It may have reached the phone: for the cooldown it counts as sent.
    stmt.sendsSent.run(now, outboxId);
    stmt.insertEvent.run(now, outboxId, null, 'unknown', reason);
  }

  function retry(outboxId: number, reason: string, nextAttemptAt: number, now: number): void {
    if (stmt.markRetry.run(reason, nextAttemptAt, now, outboxId).changes === 0) return;
    stmt.insertEvent.run(now, outboxId, null, 'retry', `${reason}; next attempt ${new Date(nextAttemptAt).toISOString()}`);
  }

  function fail(outboxId: number, reason: string, now: number): void {
    if (stmt.markFailed.run(reason, now, now, outboxId).changes === 0) return;
    // A row that fails permanently releases its cooldown reservation.
    stmt.release.run(now, outboxId);
    stmt.insertEvent.run(now, outboxId, null, 'failed', reason);
  }

  const FAILURES: ReadonlySet<string> = new Set(['failed', 'expired', 'rejected']);

  /**
   * The status a concatenated SMS has after this part's receipt: delivered
   * when every part is, failed (expired, rejected) as soon as any part is,
   * undefined while parts are outstanding.
   */
  function combineParts(outboxId: number, r: Receipt, knownParts: number | null, now: number): { status: ReceiptStatus; errorCode?: string } | 'repeat' | undefined {
    const parts = Math.max(r.parts ?? 1, knownParts ?? 1);
    if (r.part === undefined || parts <= 1) return { status: r.status, ...(r.errorCode ? { errorCode: r.errorCode } : {}) };
    // Every part status is final: the first receipt for a part is the one that counts.
    if (stmt.upsertPart.run({ id: outboxId, part: r.part, status: r.status, errorCode: r.errorCode ?? null, now }).changes === 0) return 'repeat';
    const seen = stmt.partStatuses.all(outboxId) as { part: number; status: ReceiptStatus; errorCode: string | null }[];
    const failedPart = seen.find((p) => FAILURES.has(p.status));
    if (failedPart) return { status: failedPart.status, errorCode: `part ${failedPart.part}/${parts}${failedPart.errorCode ? ` ${failedPart.errorCode}` : ''}` };
    if (seen.filter((p) => p.status === 'delivered').length >= parts) return { status: 'delivered' };
    return undefined;
  }

  type ReceiptRow = { id: number; status: OutboxStatus; queueId: string; parts: number | null };
  function applyToRow(r: Receipt, now: number, row = stmt.byProviderId.get(r.providerMessageId) as ReceiptRow): ReceiptOutcome {
    if (TERMINAL.has(row.status) && row.status !== r.status) return 'stale';
    if (row.status === r.status) return 'duplicate';
    const combined = combineParts(row.id, r, row.parts, now);
    if (combined === 'repeat') return 'duplicate';
    // A part while others are outstanding: the receipts table and receipt_parts hold it.
    if (!combined) return 'partial';
    stmt.finish.run({ id: row.id, status: combined.status, now, errorCode: combined.errorCode ?? null });
    // Not delivered: it does not count for the cooldown.
    if (combined.status !== 'delivered') stmt.release.run(now, row.id);
    stmt.insertEvent.run(now, row.id, row.queueId, combined.status, combined.errorCode ?? null);
    return 'applied';
  }

  function receipt(r: Receipt, now: number): ReceiptOutcome {
    let outcome: ReceiptOutcome;
    const row = stmt.byProviderId.get(r.providerMessageId) as ReceiptRow | undefined;
    if (row) {
      outcome = applyToRow(r, now, row);
    } else {
      // Not known yet: the send's own answer may still be on its way (or in a
      // commit not yet made). Park it; only after the grace period say 404.
      const since = stmt.parkedSince.get(r.providerMessageId) as number | null;
      outcome = since !== null && now - since >= receiptGraceMs ? 'unknown' : 'parked';
    }
    stmt.insertReceipt.run(now, r.providerMessageId, r.status, r.errorCode ?? null, outcome, r.rawBody, r.part ?? null, r.parts ?? null);
    return outcome;
  }

  /**
   * An inbound SMS: stored as evidence first, then acted on in the same
   * transaction (consent change, answer SMS), so a webhook delivered twice
   * acts once.
   */
  function inbound(sms: InboundRecord, now: number): InboundOutcome {
    const existing = stmt.inboundByProviderId.get(sms.providerId) as { id: number; action: string } | undefined;
    if (existing) return { duplicate: true, inboundId: existing.id, action: existing.action };
    const action =
      sms.kind === 'opt_out' ? 'opted out' : sms.kind === 'opt_in' ? 'opted in' : sms.kind === 'help' ? 'help sent' : 'no keyword';
    const inboundId = Number(
      stmt.insertInbound.run({ receivedAt: sms.receivedAt, providerId: sms.providerId, from: sms.from, to: sms.to ?? null, text: sms.text, kind: sms.kind, action: sms.reply ? `${action}; answered` : action })
        .lastInsertRowid,
    );
    const outcome: InboundOutcome = { duplicate: false, inboundId, action };
    if (sms.kind === 'opt_out' || sms.kind === 'opt_in') {
      const [event] = consent.change(
        [{ recipient: sms.from, action: sms.kind, at: sms.receivedAt, source: 'sms', evidence: `SMS "${sms.text}" (keyword ${sms.keyword ?? '?'})`, inboundId }],
        now,
      );
      outcome.consentEventId = event?.id;
    }
    if (sms.reply) {
      // The answer is an SMS the organisation sends: it bypasses the cooldown
      // (the number just wrote to us) but is reserved like any other, so it counts.
      const queueId = newQueueId(now);
      stmt.insertMessage.run({
        id: queueId, receivedAt: now, setupId: KEYWORD_SETUP, mailFrom: '', headerMessageId: null, bodyHash: '', clientIp: null,
        sessionRef: `inbound#${inboundId}`, senderName: sms.reply.senderName, text: sms.reply.text, encoding: sms.reply.measure.encoding,
        segments: sms.reply.measure.segments, characters: sms.reply.measure.characters, cooldownMs: null, purpose: null, textNoClause: null,
        subject: null, expiresAt: null, sendAt: null, sendingWindow: null, onUnknown: 'retry', reportMode: null,
      });
      const outboxId = Number(
        stmt.insertOutbox.run({
          queueId, recipient: sms.from, status: 'queued', reason: null, blockedUntil: null, dedupKey: null,
          idempotencyKey: `${queueId}.0`, now, nextAttemptAt: now, stopClause: 0, setupId: KEYWORD_SETUP,
        }).lastInsertRowid,
      );
      stmt.insertReservation.run(sms.from, 'keyword', outboxId, null, now, null, null);
      stmt.insertEvent.run(now, outboxId, queueId, 'queued', `answer to inbound SMS #${inboundId} (${sms.kind})`);
      queuedSinceNotify = true;
      activeSetups.add(KEYWORD_SETUP);
      outcome.replyQueueId = queueId;
    }
    return outcome;
  }

  const selectOutbox = `SELECT id, message_id AS queueId, recipient, status, reason, blocked_until AS blockedUntil, attempts,
      provider_message_id AS providerMessageId, created_at AS createdAt, sent_at AS sentAt, final_at AS finalAt FROM outbox`;

  // Synchronous work wrapped so callers always get a Promise, and failures are StorageErrors.
  function wrap<T>(what: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(new StorageError(`${what}: ${(error as Error).message}`, { cause: error }));
    }
  }

  return {
    // The client is waiting for its 250, and it must mean "on disk".
    acceptMessage: (message) => write((now) => accept(message, now), { urgent: true, durable: true }),
    claimDue: (limit, leaseMs) => write((now) => claim(limit, leaseMs, now), { urgent: true, durable: false }),
    nextDueAt: () => wrap('next due', () => (stmt.nextDue.get() as { t: number | null }).t ?? undefined),
    recordSent: (outboxId, providerMessageId, parts) => write((now) => sent(outboxId, providerMessageId, parts, now), { urgent: false, durable: false }),
    recordUnknown: (outboxId, reason) => write((now) => unknown(outboxId, reason, now), { urgent: false, durable: true }),
    recordRetry: (outboxId, reason, nextAttemptAt) => write((now) => retry(outboxId, reason, nextAttemptAt, now), { urgent: false, durable: false }),
    releaseClaim: (outboxId, reason, nextAttemptAt) =>
      write(
        (now) => {
          if (stmt.defer.run({ id: outboxId, at: nextAttemptAt, now }).changes > 0) stmt.insertEvent.run(now, outboxId, null, 'held', reason);
        },
        { urgent: false, durable: false },
      ),
    recordFailure: (outboxId, reason) => write((now) => fail(outboxId, reason, now), { urgent: false, durable: true }),
    // We answer the provider 200 after this; it will not send the receipt again.
    applyReceipt: (r) => write((now) => receipt(r, now), { urgent: false, durable: true }),
    checkRecipient: (recipient, recipientRules) => wrap('check recipient', () => rules.evaluate(recipient, recipientRules, clock.now())),
    changeConsent: (changes) => write((now) => consent.change(changes, now), { urgent: true, durable: true }),
    recordExternalSends: (sends) => write(() => consent.recordSends(sends), { urgent: true, durable: true }),
    recordInbound: (sms) => write((now) => inbound(sms, now), { urgent: true, durable: true }),
    outbox: (filter = {}) =>
      wrap('outbox', () => {
        if (filter.queueId) return db.prepare(`${selectOutbox} WHERE message_id = ? ORDER BY id`).all(filter.queueId) as OutboxRow[];
        if (filter.recipient) return db.prepare(`${selectOutbox} WHERE recipient = ? ORDER BY id`).all(filter.recipient) as OutboxRow[];
        return db.prepare(`${selectOutbox} ORDER BY id`).all() as OutboxRow[];
      }),
    queueDepth: () =>
      wrap('queue depth', () => ({
        queued: (stmt.countQueued.get() as { n: number }).n,
        sending: (stmt.countSending.get() as { n: number }).n,
      })),
    dueReports: (limit, sentBefore) => wrap('due reports', () => notify.dueReports(limit, sentBefore)),
    // Durable: a report marked done but lost in a crash would go out twice.
    markReported: (queueId, note) => write((now) => notify.markReported(queueId, note, now), { urgent: false, durable: true }),
    lastSmsTo: (recipient) => wrap('last sms', () => notify.lastSmsTo(recipient)),
    onQueued(listener) {
      listeners.push(listener);
    },
    async close() {
      while (writes.length > 0) flush();
      db.close();
    },
  };
}
