import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { StorageError } from '../errors.js';
import type { Db } from './db.js';
import type {
  ClaimedSms,
  IntakeMessage,
  IntakeOutcome,
  Ledger,
  OutboxRow,
  OutboxStatus,
  Receipt,
  ReceiptOutcome,
  RecipientDecision,
} from './types.js';

const RETRY_WINDOW_MS = 24 * 3_600_000;

export interface SqliteLedgerDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  /**
   * How long a group commit waits for more mails before writing (ms). 0 writes on
   * the next turn of the event loop, which already batches every DATA that
   * finished in the same turn.
   */
  commitDelayMs?: number;
  /** Upper bound of mails in one transaction. */
  maxBatch?: number;
}

interface Pending {
  message: IntakeMessage;
  resolve(outcome: IntakeOutcome): void;
  reject(error: Error): void;
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
  const commitDelayMs = deps.commitDelayMs ?? 0;
  const maxBatch = deps.maxBatch ?? 256;
  const listeners: (() => void)[] = [];

  const stmt = {
    findDuplicate: db.prepare('SELECT message_id AS queueId FROM outbox WHERE dedup_key = ? AND created_at > ? LIMIT 1'),
    cooldownBlocker: db.prepare(
      `SELECT state, sent_at AS sentAt FROM sends
        WHERE recipient = ? AND (state = 'reserved' OR (state = 'sent' AND sent_at > ?))
        ORDER BY state = 'reserved' DESC, sent_at DESC LIMIT 1`,
    ),
    insertMessage: db.prepare(
      `INSERT INTO messages (id, received_at, setup_id, mail_from, header_message_id, body_hash, client_ip, session_ref,
         sender_name, sms_text, encoding, segments, characters)
       VALUES (@id, @receivedAt, @setupId, @mailFrom, @headerMessageId, @bodyHash, @clientIp, @sessionRef,
         @senderName, @text, @encoding, @segments, @characters)`,
    ),
    insertOutbox: db.prepare(
      `INSERT INTO outbox (message_id, recipient, status, reason, blocked_until, dedup_key, idempotency_key,
         created_at, updated_at, next_attempt_at)
       VALUES (@queueId, @recipient, @status, @reason, @blockedUntil, @dedupKey, @idempotencyKey, @now, @now, @nextAttemptAt)`,
    ),
    insertReservation: db.prepare(
      `INSERT INTO sends (recipient, channel, outbox_id, setup_id, state, reserved_at) VALUES (?, 'email', ?, ?, 'reserved', ?)`,
    ),
    insertEvent: db.prepare('INSERT INTO events (at, outbox_id, message_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
    due: db.prepare(
      `SELECT o.id FROM outbox o
        WHERE (o.status = 'queued' AND o.next_attempt_at <= @now) OR (o.status = 'sending' AND o.lease_until <= @now)
        ORDER BY o.next_attempt_at, o.id LIMIT @limit`,
    ),
    lease: db.prepare(
      `UPDATE outbox SET status = 'sending', lease_until = @leaseUntil, attempts = attempts + 1, updated_at = @now
        WHERE id = @id
        RETURNING id, message_id AS queueId, recipient, idempotency_key AS idempotencyKey, attempts, status`,
    ),
    claimDetails: db.prepare('SELECT sender_name AS senderName, sms_text AS text, setup_id AS setupId FROM messages WHERE id = ?'),
    nextDue: db.prepare(
      `SELECT min(t) AS t FROM (
         SELECT min(next_attempt_at) AS t FROM outbox WHERE status = 'queued'
         UNION ALL SELECT min(lease_until) FROM outbox WHERE status = 'sending')`,
    ),
    markSent: db.prepare(
      `UPDATE outbox SET status = 'sent', provider_message_id = ?, sent_at = ?, updated_at = ?, lease_until = NULL
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
    byProviderId: db.prepare('SELECT id, status, message_id AS queueId FROM outbox WHERE provider_message_id = ?'),
    finish: db.prepare(
      `UPDATE outbox SET status = @status, final_at = @now, updated_at = @now, provider_error = @errorCode,
         reason = CASE WHEN @status = 'failed' THEN 'provider: ' || coalesce(@errorCode, 'delivery failed') ELSE reason END
        WHERE id = @id`,
    ),
    insertReceipt: db.prepare(
      'INSERT INTO receipts (received_at, provider_message_id, status, error_code, outcome, body) VALUES (?, ?, ?, ?, ?, ?)',
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
    });
    fresh.forEach(({ recipient, key }, index) => {
      // A row never blocks itself: the check runs before this row's reservation exists.
      const blocker =
        message.cooldownMs === null
          ? undefined
          : (stmt.cooldownBlocker.get(recipient, now - message.cooldownMs) as { state: string; sentAt: number | null } | undefined);
      const blockedUntil = blocker?.sentAt != null && message.cooldownMs !== null ? blocker.sentAt + message.cooldownMs : null;
      const row = {
        queueId,
        recipient,
        status: blocker ? 'suppressed' : 'queued',
        reason: blocker ? 'cooldown' : null,
        blockedUntil,
        dedupKey: key,
        idempotencyKey: `${queueId}.${index}`,
        now,
        nextAttemptAt: blocker ? null : now,
      };
      const outboxId = Number(stmt.insertOutbox.run(row).lastInsertRowid);
      if (blocker) {
        stmt.insertEvent.run(now, outboxId, queueId, 'suppressed', blockedUntil ? `cooldown until ${new Date(blockedUntil).toISOString()}` : 'cooldown: an earlier SMS to this number is still pending');
        decisions.push({ recipient, outcome: 'suppressed', reason: 'cooldown', ...(blockedUntil ? { blockedUntil } : {}) });
      } else {
        stmt.insertReservation.run(recipient, outboxId, message.setupId, now);
        stmt.insertEvent.run(now, outboxId, queueId, 'queued', null);
        decisions.push({ recipient, outcome: 'queued' });
      }
    });
    return { queueId, duplicate: false, decisions };
  }

  // Group commit: every mail whose DATA finished before the flush shares one
  // transaction, so one WAL fsync covers them all. Nobody is answered before it.
  let pending: Pending[] = [];
  let flushScheduled = false;

  const runBatch = db.transaction((batch: Pending[], now: number) =>
    batch.map((item) => decide(item.message, newQueueId(now), now)),
  );
  const runOne = db.transaction((item: Pending, now: number) => decide(item.message, newQueueId(now), now));

  function flush(): void {
    flushScheduled = false;
    const batch = pending.splice(0, maxBatch);
    if (pending.length > 0) scheduleFlush();
    if (batch.length === 0) return;
    const now = clock.now();
    let outcomes: IntakeOutcome[] | undefined;
    try {
      outcomes = runBatch(batch, now);
    } catch (error) {
      logger.warn({ err: error, batch: batch.length }, 'group commit failed; committing mails one by one');
    }
    let queued = false;
    if (outcomes) {
      batch.forEach((item, i) => item.resolve(outcomes[i] as IntakeOutcome));
      queued = outcomes.some((o) => o.decisions.some((d) => d.outcome === 'queued'));
    } else {
      // One bad mail must not cost the others their 250.
      for (const item of batch) {
        try {
          const outcome = runOne(item, now);
          item.resolve(outcome);
          queued ||= outcome.decisions.some((d) => d.outcome === 'queued');
        } catch (error) {
          item.reject(new StorageError(`ledger write failed: ${(error as Error).message}`, { cause: error }));
        }
      }
    }
    if (queued) for (const listener of listeners) listener();
  }

  function scheduleFlush(): void {
    if (flushScheduled) return;
    flushScheduled = true;
    if (commitDelayMs > 0) setTimeout(flush, commitDelayMs);
    else setImmediate(flush);
  }

  const claim = db.transaction((limit: number, leaseMs: number, now: number): ClaimedSms[] => {
    const ids = stmt.due.all({ now, limit }) as { id: number }[];
    const claimed: ClaimedSms[] = [];
    for (const { id } of ids) {
      const row = stmt.lease.get({ id, now, leaseUntil: now + leaseMs }) as
        | { id: number; queueId: string; recipient: string; idempotencyKey: string; attempts: number }
        | undefined;
      if (!row) continue;
      const details = stmt.claimDetails.get(row.queueId) as { senderName: string; text: string; setupId: string };
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
      });
    }
    return claimed;
  });

  const sent = db.transaction((outboxId: number, providerMessageId: string, now: number) => {
    const changed = stmt.markSent.run(providerMessageId, now, now, outboxId).changes;
    if (changed === 0) return;
    stmt.sendsSent.run(now, outboxId);
    stmt.insertEvent.run(now, outboxId, null, 'sent', `provider id ${providerMessageId}`);
  });

  const retry = db.transaction((outboxId: number, reason: string, nextAttemptAt: number, now: number) => {
    if (stmt.markRetry.run(reason, nextAttemptAt, now, outboxId).changes === 0) return;
    stmt.insertEvent.run(now, outboxId, null, 'retry', `${reason}; next attempt ${new Date(nextAttemptAt).toISOString()}`);
  });

  const fail = db.transaction((outboxId: number, reason: string, now: number) => {
    if (stmt.markFailed.run(reason, now, now, outboxId).changes === 0) return;
    // A row that fails permanently releases its cooldown reservation.
    stmt.release.run(now, outboxId);
    stmt.insertEvent.run(now, outboxId, null, 'failed', reason);
  });

  const receipt = db.transaction((r: Receipt, now: number): ReceiptOutcome => {
    const row = stmt.byProviderId.get(r.providerMessageId) as { id: number; status: OutboxStatus; queueId: string } | undefined;
    let outcome: ReceiptOutcome;
    if (!row) outcome = 'unknown';
    else if (row.status === r.status) outcome = 'duplicate';
    else if (TERMINAL.has(row.status)) outcome = 'stale';
    else {
      stmt.finish.run({ id: row.id, status: r.status, now, errorCode: r.errorCode ?? null });
      if (r.status === 'failed') stmt.release.run(now, row.id);
      stmt.insertEvent.run(now, row.id, row.queueId, r.status, r.errorCode ?? null);
      outcome = 'applied';
    }
    stmt.insertReceipt.run(now, r.providerMessageId, r.status, r.errorCode ?? null, outcome, r.rawBody);
    return outcome;
  });

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
    acceptMessage(message) {
      return new Promise<IntakeOutcome>((resolve, reject) => {
        pending.push({ message, resolve, reject });
        if (pending.length >= maxBatch) flush();
        else scheduleFlush();
      });
    },
    claimDue: (limit, leaseMs) => wrap('claim', () => claim(limit, leaseMs, clock.now())),
    nextDueAt: () => wrap('next due', () => (stmt.nextDue.get() as { t: number | null }).t ?? undefined),
    recordSent: (outboxId, providerMessageId) => wrap('record sent', () => sent(outboxId, providerMessageId, clock.now())),
    recordRetry: (outboxId, reason, nextAttemptAt) => wrap('record retry', () => retry(outboxId, reason, nextAttemptAt, clock.now())),
    recordFailure: (outboxId, reason) => wrap('record failure', () => fail(outboxId, reason, clock.now())),
    applyReceipt: (r) => wrap('receipt', () => receipt(r, clock.now())),
    outbox: (filter = {}) =>
      wrap('outbox', () => {
        if (filter.queueId) return db.prepare(`${selectOutbox} WHERE message_id = ? ORDER BY id`).all(filter.queueId) as OutboxRow[];
        if (filter.recipient) return db.prepare(`${selectOutbox} WHERE recipient = ? ORDER BY id`).all(filter.recipient) as OutboxRow[];
        return db.prepare(`${selectOutbox} ORDER BY id`).all() as OutboxRow[];
      }),
    onQueued(listener) {
      listeners.push(listener);
    },
    async close() {
      if (pending.length > 0) flush();
      db.close();
    },
  };
}
