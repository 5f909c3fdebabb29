import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { LedgerFailure } from '../../core/errors.js';
import type { ReadOnlyLedger } from '../backend.js';
import type { ForwardedReply } from '../conversation.js';
import { readMigrations } from '../migrations.js';
import { FORWARDED_REPLY_SQL } from '../notify-sql.js';
import { createContactStore } from './contacts.js';
import { migrate, type Db } from './db.js';
import { createRuleReader } from './rules.js';

/** explain's ledger over a SQLite connection (opened read-only by the caller), its rules evaluated at `now`. */
export function sqliteReadOnlyLedger(db: Db, now: number): ReadOnlyLedger {
  const rules = createRuleReader(db);
  const contacts = createContactStore(db);
  return {
    checkRecipient: async (recipient, recipientRules) => rules.evaluate(recipient, recipientRules, now),
    groupMembers: async (selector) => contacts.groupMembers(selector),
    contactsByNumber: async (numbers) => contacts.contactsByNumber(numbers),
    forwardedReply: async (inboundId) => db.prepare(FORWARDED_REPLY_SQL).get(inboundId) as ForwardedReply | undefined,
  };
}

/** No ledger yet: an empty one in memory, so the rules still answer (no consent recorded, nothing sent). */
export function emptyLedgerDb(): Db {
  const db = new Database(':memory:');
  migrate(db);
  return db;
}

/** A SQLite ledger to copy into PostgreSQL (`migrate --from-sqlite`): read-only, and only at this version's schema. */
export function openCopySource(file: string): { rows: Db; assertCurrent(): void; close(): void } {
  if (!existsSync(file)) throw new LedgerFailure(`no SQLite ledger at ${file}`, 'unavailable');
  const db = new Database(file, { readonly: true, fileMustExist: true });
  return {
    rows: db,
    assertCurrent() {
      const latest = Math.max(...readMigrations().map((m) => m.version));
      const version = (db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
      if (version !== latest) throw new LedgerFailure(`${file} is at schema version ${version}, this mail2sms at ${latest}: run \`mail2sms migrate\` on it with its SQLite config first`, 'wrong_version');
    },
    close: () => db.close(),
  };
}
