/*
 * What one SMS costs the ledger in SQL statements, end to end: intake (one
 * recipient, a Message-ID, the default per-number cap), claim, sent, and one
 * delivery receipt per part of a 3-part SMS. A real SQLite ledger on a temp
 * file, with every statement it executes counted by a wrapper around
 * `db.prepare` (plus `exec` and `pragma`). Also the rules' decision latency
 * (p50/p99 of `checkRecipient`) on a ledger holding many sends.
 *
 *   npm run build && node dist/bench/statements.js [--sms 200] [--cpu 20000] [--intake-cpu 20000] [--rows 10000000]
 *
 * `countStatementsPerSms` is exported for bench/smtp-throughput (and others)
 * to print the same count.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { createLogger } from '../src/core/log.js';
import { createClaimPolicy } from '../src/dispatch/claim-policy.js';
import { migrate, openDatabase, type Db } from '../src/ledger/sqlite/db.js';
import { createSqliteLedger } from '../src/ledger/sqlite/ledger.js';
import type { IntakeMessage, Ledger } from '../src/ledger/types.js';
import { measureSms } from '../src/message/encoding.js';

export type StatementPhase = 'intake' | 'claim' | 'sent' | 'receipts';

export interface StatementCount {
  /** Statements per SMS in each phase (averaged over the run). */
  perSms: Record<StatementPhase, number>;
  total: number;
  /** Transactions per SMS (a group commit shares one among its writes; here each phase commits alone). */
  transactions: number;
  /** Statement texts by how often they ran per SMS, most first. */
  byStatement: { sql: string; perSms: number }[];
}

interface Counter {
  count: number;
  transactions: number;
  bySql: Map<string, number>;
}

const oneLine = (sql: string) => sql.replace(/\s+/g, ' ').trim();

/** Counts every statement the database executes from here on. */
export function countStatements(db: Db): Counter {
  const counter: Counter = { count: 0, transactions: 0, bySql: new Map() };
  const tally = (sql: string) => {
    counter.count++;
    counter.bySql.set(sql, (counter.bySql.get(sql) ?? 0) + 1);
  };
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    const statement = prepare(source);
    const sql = oneLine(source);
    // Patched on the instance: pluck()/raw() return the same object, so the count follows them.
    for (const method of ['run', 'get', 'all', 'iterate'] as const) {
      const original = statement[method].bind(statement) as (...args: unknown[]) => unknown;
      (statement as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        tally(sql);
        return original(...args);
      };
    }
    return statement;
  }) as Db['prepare'];
  const exec = db.exec.bind(db);
  db.exec = ((source: string) => {
    tally(oneLine(source));
    return exec(source);
  }) as Db['exec'];
  const pragma = db.pragma.bind(db);
  db.pragma = ((source: string, options?: { simple?: boolean }) => {
    tally(`PRAGMA ${source}`);
    return pragma(source, options);
  }) as Db['pragma'];
  const transaction = db.transaction.bind(db);
  db.transaction = ((fn: (...args: unknown[]) => unknown) => {
    const wrapped = transaction(fn);
    const counted = (...args: unknown[]) => {
      counter.transactions++;
      return wrapped(...args);
    };
    return Object.assign(counted, { deferred: wrapped.deferred, immediate: wrapped.immediate, exclusive: wrapped.exclusive, default: wrapped.default });
  }) as Db['transaction'];
  return counter;
}

const quiet = () => createLogger({ level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) });

/** A ~1 KB alert as intake hands it over: one recipient, a Message-ID, the default per-number cap, 3 segments. */
function alert(index: number, recipient: string): IntakeMessage {
  const text = `Alert ${index}: `.padEnd(450, 'disk usage above threshold on host db-01 ');
  return {
    setupId: 'alerts', senderName: 'Example', mailFrom: 'ops@example.test', headerMessageId: `<bench-${index}@example.test>`,
    bodyHash: `hash-${index}`, clientIp: '127.0.0.1', sessionRef: `bench.${index}`, text, measure: measureSms(text), recipients: [recipient],
    rules: { setupId: 'alerts', cooldownMs: null, purpose: null, dailyLimit: null, numberDailyLimit: 100 },
    stopClauseAppended: false,
  };
}

const number = (i: number) => `+452${String(1_000_000 + i).padStart(7, '0')}`;

async function oneSms(ledger: Ledger, counter: Counter, index: number, add: (phase: StatementPhase, n: number) => void): Promise<void> {
  let before = counter.count;
  const phase = (name: StatementPhase) => {
    add(name, counter.count - before);
    before = counter.count;
  };
  await ledger.acceptMessage(alert(index, number(index)));
  phase('intake');
  const [sms] = await ledger.claimDue(1, 60_000);
  if (!sms) throw new Error('nothing claimed');
  phase('claim');
  const providerMessageId = `sim-${index}`;
  await ledger.recordSent(sms.outboxId, providerMessageId, 3);
  phase('sent');
  for (const part of [2, 1, 3]) {
    const outcome = await ledger.applyReceipt({ providerMessageId, status: 'delivered', part, parts: 3, rawBody: `{"id":"${providerMessageId}","part":${part}}` });
    if (part === 3 && outcome !== 'applied') throw new Error(`last part receipt: ${outcome}`);
  }
  phase('receipts');
}

/** Statements per SMS end to end on a real SQLite ledger in a temp dir (after `warmup` SMS that are not counted). */
export async function countStatementsPerSms(sms = 200, warmup = 20): Promise<StatementCount> {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-statements-'));
  const db = openDatabase(join(dir, 'ledger.db'));
  try {
    migrate(db);
    const counter = countStatements(db);
    let now = Date.parse('2026-11-30T08:00:00Z');
    const ledger = createSqliteLedger({ db, clock: { now: () => now }, logger: quiet(), claimPolicy: createClaimPolicy(), bookkeepingDelayMs: 0 });
    const sums: Record<StatementPhase, number> = { intake: 0, claim: 0, sent: 0, receipts: 0 };
    for (let i = 0; i < warmup; i++, now += 1000) await oneSms(ledger, counter, i, () => undefined);
    const start = { count: counter.count, transactions: counter.transactions };
    counter.bySql.clear();
    for (let i = warmup; i < warmup + sms; i++, now += 1000) await oneSms(ledger, counter, i, (phase, n) => (sums[phase] += n));
    await ledger.close();
    const per = (n: number) => Math.round((n / sms) * 100) / 100;
    return {
      perSms: { intake: per(sums.intake), claim: per(sums.claim), sent: per(sums.sent), receipts: per(sums.receipts) },
      total: per(counter.count - start.count),
      transactions: per(counter.transactions - start.transactions),
      byStatement: [...counter.bySql].map(([sql, n]) => ({ sql, perSms: per(n) })).sort((a, b) => b.perSms - a.perSms),
    };
  } finally {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Read system calls this process made so far: SQLite's page reads that missed its own cache (a count, unlike a time, is not the machine's). */
function readSyscalls(): number {
  return Number(/syscr: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN);
}

/**
 * The intake decision (`checkRecipient`: consent, caps, cooldown) on a ledger
 * holding `rows` sends spread over `numbers` numbers, the last 24 hours of
 * them live: p50 and p99 in µs over `samples` random numbers.
 */
export async function decisionLatency(rows: number, samples = 20_000): Promise<{ p50: number; p99: number; rows: number; readsPerDecision: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-decision-'));
  const db = openDatabase(join(dir, 'ledger.db'));
  try {
    migrate(db);
    const now = Date.parse('2026-11-30T08:00:00Z');
    const numbers = Math.max(1, Math.floor(rows / 50));
    fillSends(db, rows, numbers, now);
    const ledger = createSqliteLedger({ db, clock: { now: () => now }, logger: quiet(), claimPolicy: createClaimPolicy() });
    const rules = { setupId: 'alerts', cooldownMs: 600_000, purpose: null, dailyLimit: null, numberDailyLimit: 100 };
    const times: number[] = [];
    const readsBefore = readSyscalls();
    for (let i = 0; i < samples; i++) {
      const recipient = number((i * 7919) % numbers);
      const started = performance.now();
      await ledger.checkRecipient(recipient, rules);
      times.push((performance.now() - started) * 1000);
    }
    const readsPerDecision = (readSyscalls() - readsBefore) / samples;
    await ledger.close();
    times.sort((a, b) => a - b);
    const at = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0);
    return { p50: at(0.5), p99: at(0.99), rows, readsPerDecision };
  } finally {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `rows` sends (SMS sent through other channels: no outbox row, which the
 * decision never reads), one every few seconds over the last 200 days across
 * `numbers` numbers; written by SQLite itself (a recursive CTE), so 10^7 rows
 * take minutes, not an hour.
 */
export function fillSends(db: Db, rows: number, numbers: number, now: number): void {
  db.pragma('synchronous = OFF');
  const span = 200 * 86_400_000;
  const fill = db.prepare(`WITH RECURSIVE n(i) AS (SELECT @from UNION ALL SELECT i + 1 FROM n WHERE i + 1 < @to)
    INSERT INTO sends (recipient, channel, setup_id, state, reserved_at, sent_at)
    SELECT '+452' || printf('%07d', 1000000 + i % @numbers), 'api', 'alerts', 'sent', @start + i * @step, @start + i * @step FROM n`);
  for (let from = 0; from < rows; from += 500_000) {
    fill.run({ from, to: Math.min(rows, from + 500_000), numbers, start: now - span, step: span / rows });
  }
  db.pragma('synchronous = FULL');
}

/**
 * The ledger's own CPU per SMS (this process, no thread, no network): `sms`
 * SMS in batches of `batch` as a busy daemon's group commits would carry them
 * (that many intakes, one claim, that many sents, three receipts each), after
 * a warm-up. Durable commits as in production (synchronous=FULL).
 */
export function ledgerCpuPerSms(sms: number, batch = 20): Promise<{ cpuUs: number; wallUs: number }> {
  return cpuPerUnit('mail2sms-ledger-cpu-', sms, batch, (ledger, clock) => async () => {
    const first = clock.index;
    await Promise.all(Array.from({ length: batch }, () => ledger.acceptMessage(alert(clock.index, number(clock.index++)))));
    const claimed = await ledger.claimDue(batch, 60_000);
    await Promise.all(claimed.map((c, i) => ledger.recordSent(c.outboxId, `cpu-${first + i}`, 3)));
    const receipts = claimed.flatMap((_, i) => [2, 1, 3].map((part) => ({ providerMessageId: `cpu-${first + i}`, status: 'delivered' as const, part, parts: 3, rawBody: `{"part":${part}}` })));
    await Promise.all(receipts.map((r) => ledger.applyReceipt(r)));
    clock.now += 1000;
  });
}

/**
 * The ledger's CPU per accepted mail, intake only (what the ledger thread does
 * for `--targets intake`): `mails` one-recipient alerts in batches of `batch`
 * as a busy daemon's group commits carry them, durable commits, after a warm-up.
 */
export function intakeCpuPerMail(mails: number, batch = 20): Promise<{ cpuUs: number; wallUs: number }> {
  return cpuPerUnit('mail2sms-intake-cpu-', mails, batch, (ledger, clock) => async () => {
    await Promise.all(Array.from({ length: batch }, () => ledger.acceptMessage(alert(clock.index, number(clock.index++ % 50_000)))));
    clock.now += 100;
  });
}

/** A real ledger on a temp file, `round` (one batch of `batch` units) run for a warm-up and then `units` times over, its CPU ÷ the units. */
async function cpuPerUnit(
  prefix: string,
  units: number,
  batch: number,
  makeRound: (ledger: Ledger, clock: { now: number; index: number }) => () => Promise<void>,
): Promise<{ cpuUs: number; wallUs: number }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const db = openDatabase(join(dir, 'ledger.db'));
  try {
    migrate(db);
    const clock = { now: Date.parse('2026-11-30T08:00:00Z'), index: 0 };
    const ledger = createSqliteLedger({ db, clock: { now: () => clock.now }, logger: quiet(), claimPolicy: createClaimPolicy(), bookkeepingDelayMs: 0 });
    const round = makeRound(ledger, clock);
    for (let i = 0; i < Math.max(10, units / batch / 5); i++) await round();
    const cpu = process.cpuUsage();
    const started = performance.now();
    const rounds = Math.ceil(units / batch);
    for (let i = 0; i < rounds; i++) await round();
    const used = process.cpuUsage(cpu);
    await ledger.close();
    return { cpuUs: Math.round((used.user + used.system) / (rounds * batch)), wallUs: Math.round(((performance.now() - started) * 1000) / (rounds * batch)) };
  } finally {
    if (db.open) db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { sms: { type: 'string', default: '200' }, rows: { type: 'string', default: '0' }, cpu: { type: 'string', default: '0' }, 'intake-cpu': { type: 'string', default: '0' }, verbose: { type: 'boolean', default: false } },
  });
  const count = await countStatementsPerSms(Number(values.sms));
  const p = count.perSms;
  process.stdout.write(`statements per SMS (1 recipient, 3 parts, 3 part receipts): ${count.total}\n`);
  process.stdout.write(`  intake ${p.intake}, claim ${p.claim}, sent ${p.sent}, receipts ${p.receipts} (all three); transactions ${count.transactions}\n`);
  if (values.verbose) for (const s of count.byStatement) process.stdout.write(`  ${s.perSms.toFixed(2).padStart(6)}  ${s.sql.slice(0, 150)}\n`);
  if (Number(values.cpu) > 0) {
    const cost = await ledgerCpuPerSms(Number(values.cpu));
    process.stdout.write(`ledger CPU per SMS (batches of 20, in-process, synchronous=FULL): ${cost.cpuUs} µs (wall ${cost.wallUs} µs)\n`);
  }
  if (Number(values['intake-cpu']) > 0) {
    const cost = await intakeCpuPerMail(Number(values['intake-cpu']));
    process.stdout.write(`ledger CPU per accepted mail, intake only (batches of 20, in-process, synchronous=FULL): ${cost.cpuUs} µs (wall ${cost.wallUs} µs)\n`);
  }
  const rows = Number(values.rows);
  if (rows > 0) {
    const started = performance.now();
    const latency = await decisionLatency(rows);
    process.stdout.write(`decision (checkRecipient) at ${rows.toLocaleString('en')} ledger rows: p50 ${latency.p50} µs, p99 ${latency.p99} µs, ${latency.readsPerDecision.toFixed(2)} page reads from the OS per decision (fill + measure ${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
