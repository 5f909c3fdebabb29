/*
 * One mail to a large group: how long intake takes from the end of DATA to
 * the 250 (members read at RCPT TO, merge per recipient, every member decided
 * by the ledger rules and committed in one transaction), how much memory it
 * takes, and how long dispatch then needs to drain it to the simulator.
 *
 *   npm run build && npm run bench:groups -- [--members 10000] [--merge | --plain]
 *
 * The daemon runs in this process (its ledger in its own thread), log level
 * info to a sink that discards it; the client is nodemailer over 127.0.0.1.
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import nodemailer from 'nodemailer';
import { stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/core/log.js';
import { startDaemon } from '../src/daemon.js';
import { createContactStore } from '../src/ledger/sqlite/contacts.js';
import { migrate, openDatabase } from '../src/ledger/sqlite/db.js';

const { values } = parseArgs({ options: { members: { type: 'string', default: '10000' }, plain: { type: 'boolean', default: false } } });
const members = Number(values.members);
const FIRST = ['Anna', 'Bo', 'Carl', 'Dora', 'Emil', 'Freja', 'Gustav', 'Hanne', 'Ida', 'Jens'];

function writeTree(dir: string): string {
  mkdirSync(join(dir, 'setups'));
  writeFileSync(join(dir, 'mail2sms.yaml'), stringify({
    smtp: { listen: '127.0.0.1:0', max_message_size: '64KB' },
    sms_domains: ['sms.example.test'],
    storage: { path: 'ledger.db' },
    http: { listen: '127.0.0.1:0' },
    provider: { type: 'simulator', listen: '127.0.0.1:0', secret: 'bench-simulator-secret-0123456789', receipt_delay: '50ms' },
    dispatch: { concurrency: 32 },
    log: { level: 'info' },
  }));
  writeFileSync(join(dir, 'setups', 'club.yaml'), stringify({
    id: 'club', senders: ['club.test'], authorize: { ip: ['127.0.0.0/8'] }, sender_name: 'Club', default_country: 'DK',
    cooldown: '10m', groups: ['all'], max_group_size: members,
  }));
  return join(dir, 'mail2sms.yaml');
}

function importMembers(path: string): number {
  const db = openDatabase(path);
  migrate(db);
  const started = performance.now();
  const contacts = Array.from({ length: members }, (_, i) => ({
    id: `m${i}`, number: `+452${String(3000000 + i).padStart(7, '0')}`, groups: [], fields: { first_name: FIRST[i % FIRST.length] as string, team: `T${i % 20}` },
  }));
  createContactStore(db).importContacts('members', contacts, true, Date.now());
  db.close();
  return performance.now() - started;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-bench-groups-'));
  try {
    const configFile = writeTree(dir);
    const importMs = importMembers(join(dir, 'ledger.db'));
    const config = loadConfig(configFile);
    const logger = createLogger({ level: 'info', destination: new Writable({ write: (_chunk, _encoding, done) => done() }) });
    const daemon = await startDaemon({ config, logger });
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: daemon.ports.smtp, ignoreTLS: true, socketTimeout: 120_000 });
    const text = values.plain ? 'The gym is closed today.' : 'Hi {{first_name}}, the gym is closed today. Team {{team}} trains Thursday.';
    global.gc?.();
    const before = process.memoryUsage();
    let peakRss = before.rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 5);
    const started = performance.now();
    const info = await transport.sendMail({ from: 'coach@club.test', to: 'all@sms.example.test', subject: 'Gym', text });
    const replyMs = performance.now() - started;
    clearInterval(sampler);
    const after = process.memoryUsage();
    console.log(`members: ${members}, ${values.plain ? 'plain text' : 'merge fields'}`);
    console.log(`import (CLI path, one transaction): ${importMs.toFixed(0)} ms`);
    console.log(`mail to all@ → ${info.response}`);
    console.log(`MAIL FROM → 250 (RCPT TO read of members, DATA, merge, rules, commit): ${replyMs.toFixed(0)} ms`);
    console.log(`memory: rss ${(before.rss / 1e6).toFixed(0)} → peak ${(peakRss / 1e6).toFixed(0)} MB (+${((peakRss - before.rss) / 1e6).toFixed(0)} MB), heap used ${(before.heapUsed / 1e6).toFixed(0)} → ${(after.heapUsed / 1e6).toFixed(0)} MB`);
    const drainStart = performance.now();
    const db = new Database(join(dir, 'ledger.db'), { readonly: true });
    const pending = db.prepare(`SELECT count(*) AS n FROM outbox WHERE status IN ('queued', 'sending')`).pluck();
    while ((pending.get() as number) > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    console.log(`dispatch drained ${members} SMS to the simulator in ${((performance.now() - drainStart) / 1000).toFixed(1)} s (no rate limit, concurrency 32)`);
    db.close();
    transport.close();
    await daemon.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
