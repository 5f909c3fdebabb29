import type { Clock } from '../../core/clock.js';
import { StorageError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { createConsentStore } from './consent.js';
import { createContactStore } from './contacts.js';
import { contactsOf } from '../contact-sync.js';
import type { Db } from './db.js';
import { createNotifyQueries } from './notify-queries.js';
import { createConsoleQueries } from './console-queries.js';
import { createQueueIds } from '../queue-id.js';
import { createRuleReader } from './rules.js';
import type { ClaimPolicy, IntakeMessage, IntakeOutcome, Ledger, OutboxRow } from '../types.js';
import { createQueueAdmin } from './admin.js';
import { createAutomationRuns } from './automations.js';
import { createGroupCommit, type WriteOptions } from './group-commit.js';
import { createInboundWriter } from './inbound.js';
import { createIntakeWriter } from './intake.js';
import { createQueueWriter } from './queue.js';
import { createReceiptWriter } from './receipts.js';
import { prepareStatements } from './statements.js';

export { KEYWORD_SETUP } from '../consent.js';

export interface SqliteLedgerDeps {
  db: Db;
  /** Read when each call is made; in the ledger thread it carries the daemon's clock. */
  clock: Clock;
  logger: Logger;
  /** Dispatch's rules for a row about to be claimed (src/dispatch/claim-policy.ts). */
  claimPolicy: ClaimPolicy;
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

// Writes by what waits on them: a client waits for its 250 and it must mean
// "on disk"; dispatch waits for claims; sent/retry bookkeeping rides along.
const ANSWERED: WriteOptions = { urgent: true, durable: true };
const CLAIM: WriteOptions = { urgent: true, durable: false };
const BOOKKEEPING: WriteOptions = { urgent: false, durable: false };
const FINAL: WriteOptions = { urgent: false, durable: true };

const SELECT_OUTBOX = `SELECT id, message_id AS queueId, recipient, status, reason, blocked_until AS blockedUntil, attempts,
    provider_message_id AS providerMessageId, created_at AS createdAt, sent_at AS sentAt, final_at AS finalAt FROM outbox`;

/** The SQLite ledger: the stores of types.ts over one database, writes through one group commit. */
export function createSqliteLedger(deps: SqliteLedgerDeps): Ledger {
  const { db, clock } = deps;
  const listeners: ((dueAt: number) => void)[] = [];
  /** The earliest due time of the rows queued since the last notice; undefined: none queued. */
  let queuedDue: number | undefined;
  const stmt = prepareStatements(db);
  const rules = createRuleReader(db);
  const consent = createConsentStore(db);
  const contacts = createContactStore(db);
  const notify = createNotifyQueries(db);
  const consoleQueries = createConsoleQueries(db);
  const receipts = createReceiptWriter(stmt, deps.receiptGraceMs ?? 600_000);
  const queue = createQueueWriter({ stmt, rules, policy: deps.claimPolicy, logger: deps.logger, applyParked: receipts.applyParked });
  const decide = createIntakeWriter(stmt, rules);
  const queueIds = createQueueIds();
  const markQueued = (setupId: string, dueAt = 0) => {
    queue.markActive(setupId);
    queuedDue = Math.min(queuedDue ?? dueAt, dueAt);
  };
  const inbound = createInboundWriter(stmt, consent, markQueued);
  const admin = createQueueAdmin(db);
  const commits = createGroupCommit({
    db,
    logger: deps.logger,
    bookkeepingDelayMs: deps.bookkeepingDelayMs ?? 10,
    maxBatch: deps.maxBatch ?? 1024,
    afterCommit() {
      if (queuedDue === undefined) return;
      const dueAt = queuedDue;
      queuedDue = undefined;
      for (const listener of listeners) listener(dueAt);
    },
  });
  const write = <T>(run: (now: number) => T, options: WriteOptions) => commits.write(run, clock.now(), options);

  function accept(message: IntakeMessage, now: number): IntakeOutcome {
    const outcome = decide(message, queueIds(now), now);
    if (outcome.decisions.some((d) => d.outcome === 'queued')) markQueued(message.setupId, message.sendAt ?? 0);
    return outcome;
  }
  const automations = createAutomationRuns(db, accept);

  // Reads run at once; failures are StorageErrors like the writes'.
  function read<T>(what: string, fn: () => T): Promise<T> {
    try {
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(new StorageError(`${what}: ${(error as Error).message}`, { cause: error }));
    }
  }

  return {
    acceptMessage: (message) => write((now) => accept(message, now), ANSWERED),
    checkRecipient: (recipient, recipientRules) => read('check recipient', () => rules.evaluate(recipient, recipientRules, clock.now())),
    claimDue: (limit, leaseMs) => write((now) => queue.claim(limit, leaseMs, now), CLAIM),
    nextDueAt: () => read('next due', () => (stmt.nextDue.get() as { t: number | null }).t ?? undefined),
    recordSent: (outboxId, providerMessageId, parts) => write((now) => queue.sent(outboxId, providerMessageId, parts, now), BOOKKEEPING),
    recordUnknown: (outboxId, reason) => write((now) => queue.unknown(outboxId, reason, now), FINAL),
    recordRetry: (outboxId, reason, nextAttemptAt) => write((now) => queue.retry(outboxId, reason, nextAttemptAt, now), BOOKKEEPING),
    releaseClaim: (outboxId, reason, nextAttemptAt) => write((now) => queue.release(outboxId, reason, nextAttemptAt, now), BOOKKEEPING),
    recordFailure: (outboxId, reason) => write((now) => queue.fail(outboxId, reason, now), FINAL),
    queueDepth: () =>
      read('queue depth', () => ({ queued: (stmt.countQueued.get() as { n: number }).n, sending: (stmt.countSending.get() as { n: number }).n })),
    // We answer the provider 200 after this; it will not send the receipt again.
    applyReceipt: (r) => write((now) => receipts.receipt(r, now), FINAL),
    changeConsent: (changes) => write((now) => consent.change(changes, now), ANSWERED),
    recordExternalSends: (sends) => write(() => consent.recordSends(sends), ANSWERED),
    recordInbound: (sms) => write((now) => inbound(sms, now), ANSWERED),
    consentOf: (recipient) => read('consent', () => ({ current: consent.current(recipient), events: [...consent.events({ recipient })] })),
    consentEvents: (page) => read('consent events', () => [...consent.events(page)]),
    dueReports: (limit, sentBefore) => read('due reports', () => notify.dueReports(limit, sentBefore)),
    // Durable: a report marked done but lost in a crash would go out twice.
    markReported: (queueId, note) => write((now) => notify.markReported(queueId, note, now), FINAL),
    lastSmsTo: (recipient) => read('last sms', () => notify.lastSmsTo(recipient)),
    noteReplyForward: (inboundId, forward) => write(() => notify.noteReplyForward(inboundId, forward), ANSWERED),
    forwardedReply: (inboundId) => read('forwarded reply', () => notify.forwardedReply(inboundId)),
    outbox: (filter = {}) =>
      read('outbox', () => {
        if (filter.queueId) return db.prepare(`${SELECT_OUTBOX} WHERE message_id = ? ORDER BY id`).all(filter.queueId) as OutboxRow[];
        if (filter.recipient) return db.prepare(`${SELECT_OUTBOX} WHERE recipient = ? ORDER BY id`).all(filter.recipient) as OutboxRow[];
        return db.prepare(`${SELECT_OUTBOX} ORDER BY id`).all() as OutboxRow[];
      }),
    numberHistory: (recipient, limit) => read('history', () => consent.history(recipient, limit, clock.now())),
    mailStatus: (queueId) => read('mail status', () => admin.mailStatus(queueId)),
    listQueue: (filter) => read('queue', () => admin.listQueue(filter, clock.now())),
    consoleQuery: (query) => read(`console ${query.kind}`, () => consoleQueries.run(query)),
    cancel: (queueId, recipient, by) => write((now) => admin.cancel(queueId, recipient, by, now), ANSWERED),
    retryFailed: (queueId, recipient, by) =>
      write((now) => {
        const result = admin.retryFailed(queueId, recipient, by, now);
        // Rare: look up which setups have queued rows again, so claims take turns with them too.
        if (result.retried.length > 0) for (const setupId of stmt.queuedSetups.all() as string[]) markQueued(setupId);
        return result;
      }, ANSWERED),
    importContacts: (source, list, replace) => write((now) => contacts.importContacts(source, contactsOf(list), replace, now), ANSWERED),
    findContacts: (ref) => read('find contacts', () => contacts.findContacts(ref)),
    listContacts: () => read('list contacts', () => contacts.listContacts()),
    deleteContacts: (ref) => write(() => contacts.deleteContacts(ref), ANSWERED),
    groupMembers: (selector) => read('group members', () => contacts.groupMembers(selector)),
    contactsByNumber: (numbers) => read('contacts by number', () => contacts.contactsByNumber(numbers)),
    startRun: (run, message) => write((now) => automations.start(run, message, now), ANSWERED),
    recordMissed: (automationId, scheduledAts, detail) => write((now) => automations.missed(automationId, scheduledAts, detail, now), ANSWERED),
    runHistory: (automationId, limit) => read('automation runs', () => automations.history(automationId, limit)),
    lastRuns: () => read('last automation runs', () => automations.last()),
    onQueued(listener) {
      listeners.push(listener);
    },
    async close() {
      commits.drain();
      db.close();
    },
  };
}
