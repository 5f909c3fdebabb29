import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import Database from 'better-sqlite3';
import { migrate } from '../../ledger/db.js';
import { createRuleReader } from '../../ledger/rules.js';
import { createContactStore } from '../../ledger/contacts.js';
import { CliFailure, configOption, load, sqlitePath } from '../common.js';
import { EXIT } from '../exit.js';
import { explainMail, formatExplain } from '../explain.js';
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
      // Consent, caps and cooldown are read from the ledger if there is one; explain never writes.
      // No ledger yet: an empty one in memory, so the rules still answer (no consent recorded, nothing sent).
      const db = existsSync(sqlitePath(config)) ? new Database(sqlitePath(config), { readonly: true, fileMustExist: true }) : emptyLedger();
      try {
        let rules: ReturnType<typeof createRuleReader> | undefined;
        let contacts: ReturnType<typeof createContactStore> | undefined;
        try {
          rules = db ? createRuleReader(db) : undefined;
          contacts = db ? createContactStore(db) : undefined;
        } catch (error) {
          throw new CliFailure(`cannot read the ledger ${sqlitePath(config)}: ${(error as Error).message} (run \`mail2sms migrate\` if it was written by an older version)`, EXIT.software);
        }
        const report = await explainMail(config, raw, {
          ...(opts.from ? { from: opts.from } : {}),
          ...(opts.user ? { user: opts.user } : {}),
          to: opts.to ?? [],
          ip: opts.ip,
          now: Date.now(),
          ...(rules ? { rules: (recipient, recipientRules, now) => rules.evaluate(recipient, recipientRules, now) } : {}),
          ...(contacts ? { contacts } : {}),
        });
        out(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatExplain(report, { why: opts.why === true }));
        // Scripts can test a mail against the config: non-zero when the daemon would refuse it.
        if (report.refused) setExit(EXIT.refused);
      } finally {
        db?.close();
      }
    });
}

function emptyLedger(): Database.Database {
  const db = new Database(':memory:');
  migrate(db);
  return db;
}

