import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Config } from '../../config/load.js';
import { openLedger } from '../../ledger/open.js';
import { CliFailure, configOption, load } from '../common.js';
import { EXIT } from '../exit.js';
import { explainMail, formatExplain, type ExplainLedger } from '../explain.js';
import { cliLedgerDeps } from '../ledger.js';
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
  const ledger = await openLedger(config.storage).openReadOnly(cliLedgerDeps({ now: () => now }));
  try {
    return await use(ledger);
  } finally {
    await ledger.close();
  }
}
