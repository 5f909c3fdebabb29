import type pg from 'pg';
import type { Clock } from '../../core/clock.js';
import { StorageError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { ForwardedReply } from '../conversation.js';
import { DUE_REPORTS_SQL, FORWARDED_REPLY_SQL, LAST_SMS_SQL, NOTE_REPLY_FORWARD_SQL, postgresParams } from '../notify-sql.js';
import type { SendGuard } from '../backend.js';
import type { AutomationRun, ClaimPolicy, DueReport, LastSms, Ledger, OutboxRow } from '../types.js';
import { createPgQueueAdmin } from './admin.js';
import { LAST_RUNS_SQL, recordMissedOn, RUN_HISTORY_SQL, runLocks, startRunOn } from './automations.js';
import { createPgContacts } from './contacts.js';
import { createPgConsole, numberHistoryOn } from './console.js';
import { changeConsentOn, consentEventsOn, consentLocks, consentOfOn, recordInboundOn, recordSendsOn } from './consent.js';
import { acceptOn, INSERT_EVENT, intakeLocks } from './intake.js';
import { acceptTogether, decidableTogether, togetherReads } from './intake-together.js';
import { inlineSql, inTransaction, numberKey, type PgClient, type PgPool, type Tx } from './pool.js';
import { claimLeading, createPgQueue, RELEASE } from './queue.js';
import { endAttemptSql } from '../row-events.js';
import { createPgReceipts, providerIdLock } from './receipts.js';
import { evaluateOn, OPTED_OUT } from './rules.js';

/** NOTIFY channel: a commit that queued rows wakes every daemon's dispatcher. */
export const QUEUED_CHANNEL = 'mail2sms_queued';

export interface PostgresLedgerDeps {
  pool: PgPool;
  clock: Clock;
  logger: Logger;
  claimPolicy: ClaimPolicy;
  receiptGraceMs?: number;
}

export interface PostgresLedger extends Ledger {
  guardSend: SendGuard;
  /** Called by the dedicated LISTEN connection (session.ts) when any daemon queued rows. */
  notifyQueued(): void;
}

// The send recorded in one statement: the row (which is its event: ../row-events.ts), its reservation; and whether receipts wait parked for this id.
const RECORD_SENT = `WITH o AS (
    UPDATE outbox SET status = 'sent', reason = NULL, provider_message_id = $2, parts = $3, sent_at = $4, updated_at = $4, lease_until = NULL
     WHERE id = $1 AND status = 'sending' RETURNING id),
  s AS (UPDATE sends SET state = 'sent', sent_at = $4 WHERE outbox_id IN (SELECT id FROM o) AND state = 'reserved')
  SELECT (SELECT count(*) FROM o) AS marked,
         (SELECT count(*) FROM receipts WHERE provider_message_id = $2 AND outcome = 'parked') AS parked`;

// A claim handed back (queue.ts DEFER with endAttempt's parameters: $1 the row, $2 now, $3 when it is due again).
const DEFER_AT_NOW = `UPDATE outbox SET status = 'queued', next_attempt_at = $3, attempts = attempts - 1, lease_until = NULL, updated_at = $2, claim_event = NULL
  WHERE id = $1 AND status = 'sending'`;

const SELECT_OUTBOX = `SELECT id, message_id AS "queueId", recipient, status, reason, blocked_until AS "blockedUntil", attempts,
    provider_message_id AS "providerMessageId", created_at AS "createdAt", sent_at AS "sentAt", final_at AS "finalAt" FROM outbox`;

// DUE_REPORTS_SQL is written for SQLite's named parameters; the same text with PostgreSQL's.
const DUE_REPORTS = DUE_REPORTS_SQL.replace('@sentBefore', '$1').replace('@limit', '$2')
  .replace(/AS (queueId|setupId|mailFrom|headerMessageId|mode|receivedAt)\b/g, 'AS "$1"');

/**
 * The ledger on PostgreSQL, for several daemons sharing one database. Every
 * write is one transaction on a pooled connection; what SQLite gets from its
 * single writer, this gets from locks:
 * - per number, a transaction-scoped advisory lock (pool.ts, lockKey): intake's
 *   check-and-reserve, consent changes and inbound SMS take it, so fifty mails
 *   to one number over three daemons are decided one after the other;
 * - claims lock rows with FOR UPDATE SKIP LOCKED and lease them;
 * - the send guard: a provider call runs inside a transaction that holds the
 *   number's lock and has just read that the number is not opted out. An
 *   opt-out (any daemon) waits for that call to end, and every call that
 *   starts after the opt-out committed sees it: no provider call to a number
 *   starts after its STOP is committed. This is the in-memory gate of one
 *   process (consent/gate.ts) made visible to every daemon.
 */
/** Every method's failures as StorageErrors, as the other stores' are. */
function wrapErrors<T extends object>(store: T): T {
  return Object.fromEntries(Object.entries(store).map(([name, fn]) => [name, async (...args: unknown[]) => {
    try {
      return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
    } catch (error) {
      throw new StorageError(`${name}: ${(error as Error).message}`, { cause: error });
    }
  }])) as T;
}

export function createPostgresLedger(deps: PostgresLedgerDeps): PostgresLedger {
  const { pool, clock } = deps;
  const listeners: ((dueAt: number) => void)[] = [];
  const queue = createPgQueue({ policy: deps.claimPolicy, logger: deps.logger });
  const admin = createPgQueueAdmin(pool);
  const consoleQuery = createPgConsole(pool);
  const contactStore = wrapErrors(createPgContacts(pool, () => clock.now()));
  const receipts = createPgReceipts(deps.receiptGraceMs ?? 600_000);
  const notifyQueued = () => {
    // Another daemon's rows, or ours: when they are due is not in the notice, so look now.
    for (const listener of listeners) listener(0);
  };

  /** One transaction; `locks` are taken with its BEGIN, and `leading` statements run with it. Times are the caller's clock when the call is made. */
  async function run<T>(
    what: string, fn: (client: PgClient, now: number, tx: Tx) => Promise<T>, locks: Iterable<bigint> = [], leading?: (now: number) => string[],
  ): Promise<T> {
    const now = clock.now();
    try {
      return await inTransaction(pool, (client, tx) => fn(client, now, tx), locks, leading?.(now));
    } catch (error) {
      throw new StorageError(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }
  async function storageErrors<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new StorageError(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }
  async function read<T>(what: string, sql: string, params: unknown[]): Promise<T[]> {
    try {
      return (await pool.query(sql, params)).rows as T[];
    } catch (error) {
      throw new StorageError(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }
  async function withClient<T>(what: string, fn: (client: PgClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient | undefined;
    try {
      client = await pool.connect();
      return await fn(client);
    } catch (error) {
      throw new StorageError(`${what}: ${(error as Error).message}`, { cause: error });
    } finally {
      client?.release();
    }
  }

  /**
   * An attempt that ends unsent: its claim and `type` written as events
   * (../row-events.ts), then `sql` ($1 the row, $2 now, then `params`) and
   * `then` — all only when the row is in one of `statuses`.
   */
  async function endAttempt(
    outboxId: number, type: string, detail: string, sql: string, params: unknown[],
    then: (client: PgClient, now: number) => Promise<void> = async () => undefined, statuses = `('sending')`,
  ): Promise<void> {
    await run(`record ${type}`, async (client, now) => {
      const ended = await client.query(endAttemptSql({ row: '$1', now: '$2::bigint', type: '$3::text', detail: '$4::text', statuses }), [outboxId, now, type, detail]);
      if (!ended.rowCount) return;
      await client.query(sql, [outboxId, now, ...params]);
      await then(client, now);
    });
  }

  const guardSend: SendGuard = async (recipient, send) => {
    const client = await pool.connect();
    let connectionLost: Error | undefined;
    try {
      // One round trip, three statements: in READ COMMITTED each statement sees what was committed before *it*
      // began, so the read after the lock sees an opt-out whose transaction held the lock before us. Only a single
      // statement takes bind parameters, so the number is written in as a literal (inlineSql: escaped, and never
      // through String.replace's "$&"/"$'" patterns); a bound read of its own would cost a round trip per SMS.
      const results = (await client.query(
        `BEGIN; SELECT pg_advisory_xact_lock(${String(numberKey(recipient))}); ${inlineSql(OPTED_OUT, [recipient])}`,
      )) as unknown as pg.QueryResult<{ action: string }>[];
      if (results[2]?.rows[0]?.action === 'opt_out') return { sent: false };
      return { sent: true, value: await send() };
    } finally {
      // Nothing was written: COMMIT only ends the transaction and frees the lock. A connection that fails here is not reused.
      await client.query('COMMIT').catch((error: Error) => (connectionLost = error));
      client.release(connectionLost);
    }
  };

  return {
    guardSend,
    notifyQueued,
    acceptMessage: (message) => {
      // Most mails: two round trips (intake-together.ts); the rest one recipient after the other.
      const together = decidableTogether(message);
      return run('accept message', async (client, now, tx) => {
        const outcome = together ? acceptTogether(message, now, tx) : await acceptOn(client, message, now);
        if (outcome.decisions.some((d) => d.outcome === 'queued')) tx.notifyOnCommit(QUEUED_CHANNEL);
        return outcome;
      }, intakeLocks(message), together ? (now) => togetherReads(message, now) : undefined);
    },
    checkRecipient: (recipient, rules) =>
      withClient('check recipient', (client) => evaluateOn(client, recipient, rules, clock.now())),
    claimDue: (limit, leaseMs) =>
      run('claim', (client, now, tx) => queue.claim(client, limit, leaseMs, now, tx.leading), [], (now) => claimLeading(limit, now)),
    async nextDueAt() {
      const [row] = await read<{ t: number | null }>('next due', `SELECT least(
          (SELECT min(next_attempt_at) FROM outbox WHERE status = 'queued'), (SELECT min(lease_until) FROM outbox WHERE status = 'sending')) AS t`, []);
      return row?.t ?? undefined;
    },
    // Two round trips: the send recorded with BEGIN and the provider id's lock; COMMIT (parked receipts, rare, in between).
    recordSent: (outboxId, providerMessageId, parts) =>
      run('record sent', async (client, now, tx) => {
        const row = tx.leading[0]?.rows[0] as { marked: number; parked: number } | undefined;
        if (row?.marked && row.parked) await receipts.applyParked(client, providerMessageId, now);
      }, [providerIdLock(providerMessageId)], (now) => [inlineSql(RECORD_SENT, [outboxId, providerMessageId, parts ?? null, now])]),
    recordUnknown: (outboxId, reason) =>
      endAttempt(outboxId, 'unknown', reason, `UPDATE outbox SET status = 'unknown', reason = $3, final_at = $2, updated_at = $2, lease_until = NULL, claim_event = NULL
          WHERE id = $1 AND status = 'sending'`, [reason],
        async (client, now) => {
          await client.query(`UPDATE sends SET state = 'sent', sent_at = $1 WHERE outbox_id = $2 AND state = 'reserved'`, [now, outboxId]);
        }),
    recordRetry: (outboxId, reason, nextAttemptAt) =>
      endAttempt(outboxId, 'retry', `${reason}; next attempt ${new Date(nextAttemptAt).toISOString()}`,
        `UPDATE outbox SET status = 'queued', reason = $3, next_attempt_at = $4, updated_at = $2, lease_until = NULL, claim_event = NULL
          WHERE id = $1 AND status = 'sending'`, [reason, nextAttemptAt]),
    releaseClaim: (outboxId, reason, nextAttemptAt) =>
      endAttempt(outboxId, 'held', reason, DEFER_AT_NOW, [nextAttemptAt]),
    recordFailure: (outboxId, reason) =>
      endAttempt(outboxId, 'failed', reason, `UPDATE outbox SET status = 'failed', reason = $3, final_at = $2, updated_at = $2, lease_until = NULL, claim_event = NULL
          WHERE id = $1 AND status IN ('queued', 'sending')`, [reason],
        async (client, now) => {
          await client.query(RELEASE, [now, outboxId]);
        }, `('queued', 'sending')`),
    async queueDepth() {
      const [row] = await read<{ queued: number; sending: number }>('queue depth',
        `SELECT (SELECT count(*) FROM outbox WHERE status = 'queued') AS queued, (SELECT count(*) FROM outbox WHERE status = 'sending') AS sending`, []);
      return row ?? { queued: 0, sending: 0 };
    },
    // Two round trips: the receipt decided and stored with BEGIN and the provider id's lock; its row settled with the COMMIT.
    applyReceipt: (r) =>
      run('receipt', (client, now, tx) => receipts.receipt(client, r, now, tx), [providerIdLock(r.providerMessageId)], (now) => [receipts.receiveSql(r, now)]),
    changeConsent: (changes) => run('consent', (client, now) => changeConsentOn(client, changes, now), consentLocks(changes)),
    recordExternalSends: (sends) => run('external sends', (client) => recordSendsOn(client, sends)),
    recordInbound: (sms) =>
      run('inbound', async (client, now, tx) => {
        const { queued, ...outcome } = await recordInboundOn(client, sms, now);
        if (queued) tx.notifyOnCommit(QUEUED_CHANNEL);
        return outcome;
      }, [numberKey(sms.from)]),
    consentOf: (recipient) => storageErrors('consent', () => consentOfOn(pool, recipient)),
    consentEvents: (page) => storageErrors('consent events', () => consentEventsOn(pool, page)),
    async dueReports(limit, sentBefore) {
      const rows = await read<Omit<DueReport, 'outcomes'>>('due reports', DUE_REPORTS, [sentBefore, limit]);
      const reports: DueReport[] = [];
      for (const row of rows) {
        const outcomes = await read<DueReport['outcomes'][number]>('report outcomes',
          'SELECT recipient, status, reason, coalesce(final_at, sent_at, updated_at) AS at FROM outbox WHERE message_id = $1 ORDER BY id', [row.queueId]);
        reports.push({ ...row, outcomes });
      }
      return reports;
    },
    markReported: (queueId, note) =>
      run('mark reported', async (client, now) => {
        const marked = await client.query('UPDATE messages SET report_sent_at = $1 WHERE id = $2 AND report_sent_at IS NULL', [now, queueId]);
        if (!marked.rowCount) return false;
        await client.query(INSERT_EVENT, [now, null, queueId, 'report', note]);
        return true;
      }),
    async lastSmsTo(recipient) {
      const [row] = await read<LastSms>('last sms', postgresParams(LAST_SMS_SQL), [recipient]);
      return row;
    },
    noteReplyForward: (inboundId, forward) =>
      run('note reply forward', async (client) => {
        await client.query(postgresParams(NOTE_REPLY_FORWARD_SQL), [forward.token, forward.mailTo, forward.setupId, inboundId]);
      }),
    async forwardedReply(inboundId) {
      const [row] = await read<ForwardedReply>('forwarded reply', postgresParams(FORWARDED_REPLY_SQL), [inboundId]);
      return row;
    },
    outbox: (filter = {}) => {
      if (filter.queueId) return read<OutboxRow>('outbox', `${SELECT_OUTBOX} WHERE message_id = $1 ORDER BY id`, [filter.queueId]);
      if (filter.recipient) return read<OutboxRow>('outbox', `${SELECT_OUTBOX} WHERE recipient = $1 ORDER BY id`, [filter.recipient]);
      return read<OutboxRow>('outbox', `${SELECT_OUTBOX} ORDER BY id`, []);
    },
    numberHistory: (recipient, limit) => storageErrors('history', () => numberHistoryOn(pool, recipient, limit, clock.now())),
    mailStatus: (queueId) => storageErrors('mail status', () => admin.mailStatus(queueId)),
    listQueue: (filter) => storageErrors('queue', () => admin.listQueue(filter, clock.now())),
    cancel: (queueId, recipient, by) => storageErrors('cancel', () => admin.cancel(queueId, recipient, by, clock.now())),
    retryFailed: (queueId, recipient, by) => storageErrors('retry', () => admin.retryFailed(queueId, recipient, by, clock.now())),
    ...contactStore,
    consoleQuery: (query) => storageErrors(`console ${query.kind}`, () => consoleQuery(query)),
    startRun: (automationRun, message) =>
      run('start automation run', async (client, now, tx) => {
        const outcome = await startRunOn(client, automationRun, message, now);
        if (outcome.outcome === 'ran' && outcome.run.queued > 0) tx.notifyOnCommit(QUEUED_CHANNEL);
        return outcome;
      }, runLocks(automationRun, message)),
    recordMissed: (automationId, scheduledAts, detail) => run('record missed runs', (client, now) => recordMissedOn(client, automationId, scheduledAts, detail, now)),
    runHistory: (automationId, limit) => read<AutomationRun>('automation runs', RUN_HISTORY_SQL, [automationId, limit]),
    lastRuns: () => read<AutomationRun>('last automation runs', LAST_RUNS_SQL, []),
    onQueued(listener) {
      listeners.push(listener);
    },
    async close() {
      // The pool is the caller's (daemon or test): it closes it after everything that uses it.
    },
  };
}

