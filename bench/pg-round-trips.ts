/*
 * Round trips to PostgreSQL per accepted mail and per SMS, counted: every
 * query a pooled connection sends (a multi-statement text counts once, as it
 * is one round trip). Runs the PostgreSQL ledger against a throwaway server
 * through the ledger interface, as the daemon's stages call it.
 *
 *   node dist/bench/pg-round-trips.js [--mails 200]
 *
 * The counts are printed, not asserted here; test/postgres-round-trips.test.ts
 * holds the intake path to its count.
 */
import { parseArgs } from 'node:util';
import { Writable } from 'node:stream';
import { systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/log.js';
import { createClaimPolicy } from '../src/dispatch/claim-policy.js';
import { createPostgresLedger, type PostgresLedger } from '../src/ledger/postgres/ledger.js';
import { migratePostgres } from '../src/ledger/postgres/migrate.js';
import { createPgPool, type PgPool } from '../src/ledger/postgres/pool.js';
import type { IntakeMessage, RecipientRules } from '../src/ledger/types.js';
import { measureSms } from '../src/message/encoding.js';
import { startTestPostgres } from './throwaway-postgres.js';

export interface QueryCounter {
  /** Queries sent since the start (or the last reset). */
  readonly count: number;
  reset(): void;
}

/** Counts every query of every connection the pool opens from now on (pool.query included: it runs on a pooled connection). */
export function countQueries(pool: PgPool): QueryCounter {
  let count = 0;
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    // node-postgres overloads query(); the counter passes every form through unchanged.
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      count++;
      return query(...args);
    };
  });
  return {
    get count() {
      return count;
    },
    reset: () => void (count = 0),
  };
}

let serial = 0;
/** A one-line alert as intake hands it over, with the cooldown on (the usual alert setup). */
export function alert(recipients: string[], rules: Partial<RecipientRules> = {}): IntakeMessage {
  serial++;
  const text = 'Disk full on db1';
  return {
    setupId: 'alerts', senderName: 'Example', mailFrom: 'nagios@example.test', headerMessageId: `<rt${serial}.${Date.now()}@example.test>`,
    bodyHash: `h${serial}`, clientIp: '127.0.0.1', sessionRef: `rt.${serial}`, text, measure: measureSms(text), recipients, stopClauseAppended: false,
    rules: { setupId: 'alerts', cooldownMs: 600_000, purpose: null, dailyLimit: null, numberDailyLimit: null, ...rules },
  };
}

export interface RoundTrips {
  /** Per accepted mail, by kind of mail. */
  intake: Record<string, number>;
  /** Per SMS, by stage, and their sum. */
  sms: Record<string, number>;
  /** A dispatcher's poll that finds nothing due. */
  idleClaim: number;
  /** Per delivery receipt, by kind. */
  receipts: Record<string, number>;
}

/** Measures on a migrated, empty database at `url`. */
export async function measureRoundTrips(url: string, mails: number): Promise<RoundTrips> {
  const pool = createPgPool(url, 4);
  const counter = countQueries(pool);
  const logger = createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });
  const ledger = createPostgresLedger({ pool, clock: systemClock, logger, claimPolicy: createClaimPolicy() });
  let number = 20_000_000 + Math.floor(Math.random() * 1_000_000) * 10;
  const next = () => `+45${number++}`;
  try {
    const perMail = async (make: () => IntakeMessage) => {
      counter.reset();
      for (let i = 0; i < mails; i++) await ledger.acceptMessage(make());
      return counter.count / mails;
    };
    const intake = {
      'one recipient': await perMail(() => alert([next()])),
      'three recipients': await perMail(() => alert([next(), next(), next()])),
      'one recipient, setup daily_limit': await perMail(() => alert([next()], { dailyLimit: 1_000_000 })),
      'one recipient in its cooldown (suppressed)': 0,
    };
    const cooled = next();
    await ledger.acceptMessage(alert([cooled]));
    intake['one recipient in its cooldown (suppressed)'] = await perMail(() => alert([cooled]));
    const sms = await perSms(ledger, counter);
    counter.reset();
    await ledger.claimDue(10, 60_000);
    const idleClaim = counter.count;
    return { intake, sms, idleClaim, receipts: await perReceipt(ledger, counter, Array.from({ length: Math.min(mails, 50) }, next)) };
  } finally {
    await pool.end();
  }
}

/** Everything queued, claimed in batches of 10 (a dispatcher with concurrency 10), then per SMS: the send guard, the send recorded, the receipt (one for the whole SMS). */
async function perSms(ledger: PostgresLedger, counter: QueryCounter): Promise<Record<string, number>> {
  const stages = { claim: 0, 'send guard': 0, 'record sent': 0, receipt: 0 };
  let sent = 0;
  for (;;) {
    counter.reset();
    const claimed = await ledger.claimDue(10, 60_000);
    if (claimed.length === 0) break;
    stages.claim += counter.count;
    for (const sms of claimed) {
      const providerId = `rt-${sms.outboxId}`;
      counter.reset();
      await ledger.guardSend(sms.recipient, async () => providerId);
      stages['send guard'] += counter.count;
      counter.reset();
      await ledger.recordSent(sms.outboxId, providerId);
      stages['record sent'] += counter.count;
      counter.reset();
      await ledger.applyReceipt({ providerMessageId: providerId, status: 'delivered', rawBody: '{}' });
      stages.receipt += counter.count;
      sent++;
    }
  }
  const perSmsStages = Object.fromEntries(Object.entries(stages).map(([stage, n]) => [stage, n / Math.max(sent, 1)]));
  return { ...perSmsStages, total: Object.values(perSmsStages).reduce((a, b) => a + b, 0) };
}

/** Receipts of a 3-part SMS sent to each of `numbers`, one per part (in the order 2, 1, 3), and the last one again. */
async function perReceipt(ledger: PostgresLedger, counter: QueryCounter, numbers: string[]): Promise<Record<string, number>> {
  const kinds = { 'a part, others outstanding (partial)': 0, 'the last part (settles the SMS)': 0, 'the same receipt again': 0 };
  for (const number of numbers) await ledger.acceptMessage(alert([number]));
  let sms = 0;
  for (let claimed = await ledger.claimDue(10, 60_000); claimed.length > 0; claimed = await ledger.claimDue(10, 60_000)) {
    for (const { outboxId } of claimed) {
      const providerMessageId = `rt-parts-${outboxId}`;
      await ledger.recordSent(outboxId, providerMessageId, 3);
      const part = (n: number) => ({ providerMessageId, status: 'delivered' as const, part: n, parts: 3, rawBody: `{"part":${n}}` });
      const count = async (kind: keyof typeof kinds, n: number, share = 1) => {
        counter.reset();
        await ledger.applyReceipt(part(n));
        kinds[kind] += counter.count / share;
      };
      await count('a part, others outstanding (partial)', 2, 2);
      await count('a part, others outstanding (partial)', 1, 2);
      await count('the last part (settles the SMS)', 3);
      await count('the same receipt again', 3);
      sms++;
    }
  }
  return Object.fromEntries(Object.entries(kinds).map(([kind, n]) => [kind, n / Math.max(sms, 1)]));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { mails: { type: 'string', default: '200' } } });
  const mails = Number(values.mails);
  const server = await startTestPostgres();
  try {
    const url = await server.createDatabase('roundtrips');
    const pool = createPgPool(url, 1);
    const client = await pool.connect();
    await migratePostgres(client);
    client.release();
    await pool.end();
    const result = await measureRoundTrips(url, mails);
    const line = (name: string, n: number) => `  ${name.padEnd(44)} ${n.toFixed(2)}\n`;
    process.stdout.write(`pg-round-trips: queries (round trips) to PostgreSQL, ${mails} mails per kind\nper accepted mail:\n`);
    for (const [name, n] of Object.entries(result.intake)) process.stdout.write(line(name, n));
    process.stdout.write('per SMS (claims in batches of 10):\n');
    for (const [name, n] of Object.entries(result.sms)) process.stdout.write(line(name, n));
    process.stdout.write(line('a claim that finds nothing due', result.idleClaim));
    process.stdout.write('per delivery receipt (parts of a 3-part SMS):\n');
    for (const [name, n] of Object.entries(result.receipts)) process.stdout.write(line(name, n));
  } finally {
    await server.stop();
  }
}

if (process.argv[1]?.endsWith('pg-round-trips.js')) {
  main().catch((error: unknown) => {
    process.stderr.write(`pg-round-trips: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
