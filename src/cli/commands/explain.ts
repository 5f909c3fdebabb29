import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import Database from 'better-sqlite3';
import { migrate } from '../../ledger/sqlite/db.js';
import type { Config } from '../../config/load.js';
import { createClaimPolicy } from '../../dispatch/claim-policy.js';
import { createPostgresLedger } from '../../ledger/postgres/ledger.js';
import { CliFailure, configOption, load } from '../common.js';
import { EXIT } from '../exit.js';
import { explainMail, formatExplain, sqliteExplainLedger, type ExplainLedger } from '../explain.js';
import { openReadOnlyPostgres, silentLogger } from '../ledger.js';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

export function registerExplainCommands(program: Command, { out, setExit }: CliIo): void {
  program
    .command('explain')
    .description('show what the daemon would do with a mail, without sending: setup, authorisation, each recipient, the SMS text')
    .argument('<file>', 'the mail (.eml)')
    .option('--from <address>', 'envelope sender (default: the From header)')
    .option('--to <address...>', 'envelope recipients (default: the To and Cc headers)')
    .option('--ip <address>', 'client IP address', '127.0.0.1')
    .option('--user <name>', 'SMTP AUTH user the client logs in as')
    .option('--json', 'print JSON')
    .option('--why', 'also list each block stripped from the body (quoted text, signatures, footers) with its lines and why')
    .addOption(configOption())
    .action(async (file: string, opts: { from?: string; to?: string[]; ip: string; user?: string; json?: boolean; why?: boolean; config: string }) => {
      const config = load(opts.config);
      let raw: Buffer;
      try {
        raw = readFileSync(file);
      } catch (error) {
        throw new CliFailure(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, EXIT.dataErr);
      }
      if (isIP(opts.ip) === 0) throw new CliFailure(`--ip: "${opts.ip}" is not an IP address`, EXIT.usage);
      const now = Date.now();
      const report = await withExplainLedger(config, now, (ledger) => explainMail(config, raw, {
        ...(opts.from ? { from: opts.from } : {}),
        ...(opts.user ? { user: opts.user } : {}),
        to: opts.to ?? [],
        ip: opts.ip,
        now,
        ledger,
      }));
      out(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatExplain(report, { why: opts.why === true }));
      // Scripts can test a mail against the config: non-zero when the daemon would refuse it.
      if (report.refused) setExit(EXIT.refused);
    });
}

/**
 * Consent, caps and cooldown read from the ledger, which explain never writes:
 * SQLite opened read-only (no ledger yet: an empty one in memory, so the rules
 * still answer: no consent recorded, nothing sent); PostgreSQL through a pool
 * whose every transaction is READ ONLY, with the daemon's own read-only verdict.
 */
async function withExplainLedger<T>(config: Config, now: number, use: (ledger: ExplainLedger) => Promise<T>): Promise<T> {
  const clock = { now: () => now };
  if (config.storage.type === 'postgres') {
    const pool = await openReadOnlyPostgres(config);
    try {
      return await use(createPostgresLedger({ pool, clock, logger: silentLogger(), claimPolicy: createClaimPolicy() }));
    } finally {
      await pool.end();
    }
  }
  const path = config.storagePath;
  const db = existsSync(path) ? new Database(path, { readonly: true, fileMustExist: true }) : emptyLedger();
  try {
    let ledger: ExplainLedger;
    try {
      ledger = sqliteExplainLedger(db, now);
    } catch (error) {
      throw new CliFailure(`cannot read the ledger ${path}: ${(error as Error).message} (run \`mail2sms migrate\` if it was written by an older version)`, EXIT.software);
    }
    return await use(ledger);
  } finally {
    db.close();
  }
}

function emptyLedger(): Database.Database {
  const db = new Database(':memory:');
  migrate(db);
  return db;
}

