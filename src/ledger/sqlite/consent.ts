import type { Db } from './db.js';
import { GLOBAL_PURPOSE } from '../rules.js';
import { historyRow, historySql } from '../history.js';
import type { ConsentAction, ConsentChange, ConsentEvent, ConsentStore, ExternalSend } from '../consent.js';

/*
 * The consent store on SQLite. Plain synchronous functions over one
 * connection: the ledger thread runs them inside its group commit, the CLI
 * runs them on its own connection (SQLite serialises the two writers;
 * busy_timeout covers the wait).
 */

export function createConsentStore(db: Db): ConsentStore {
  const stmt = {
    latest: db.prepare('SELECT action FROM consent_events WHERE recipient = ? AND purpose = ? ORDER BY id DESC LIMIT 1').pluck(),
    insert: db.prepare(
      `INSERT INTO consent_events (at, recorded_at, recipient, purpose, action, previous, source, evidence, inbound_id)
       VALUES (@at, @recordedAt, @recipient, @purpose, @action, @previous, @source, @evidence, @inboundId)`,
    ),
    current: db.prepare(
      `SELECT purpose, state, since, source FROM consent_state WHERE recipient = ? ORDER BY purpose`,
    ),
    insertSend: db.prepare(
      `INSERT INTO sends (recipient, channel, state, reserved_at, sent_at, ref, purpose)
       VALUES (@recipient, @channel, 'sent', @at, @at, @ref, @purpose)
       ON CONFLICT (channel, ref) WHERE ref IS NOT NULL DO NOTHING`,
    ),
  };

  const selectEvents = `SELECT id, at, recorded_at AS recordedAt, recipient, purpose, action, previous, source, evidence,
      inbound_id AS inboundId FROM consent_events`;

  const changeAll = db.transaction((changes: readonly ConsentChange[], now: number) => {
    const written: ConsentEvent[] = [];
    for (const c of changes) {
      const purpose = c.purpose ?? GLOBAL_PURPOSE;
      const previous = (stmt.latest.get(c.recipient, purpose) as ConsentAction | undefined) ?? null;
      const row = {
        at: c.at ?? now,
        recordedAt: now,
        recipient: c.recipient,
        purpose,
        action: c.action,
        previous,
        source: c.source,
        evidence: c.evidence ?? null,
        inboundId: c.inboundId ?? null,
      };
      const id = Number(stmt.insert.run(row).lastInsertRowid);
      written.push({ id, ...row });
    }
    return written;
  });

  const sendAll = db.transaction((sends: readonly ExternalSend[]) => {
    let recorded = 0;
    for (const s of sends) {
      recorded += stmt.insertSend.run({ recipient: s.recipient, channel: s.channel, at: s.at, ref: s.ref ?? null, purpose: s.purpose ?? null }).changes;
    }
    return { recorded, duplicates: sends.length - recorded };
  });

  // history.ts says how the history is read and paged.
  const historyQuery = db.prepare(historySql('first'));

  return {
    change: (changes, now) => changeAll(changes, now),
    current: (recipient) =>
      stmt.current.all(recipient) as { purpose: string; state: ConsentAction; since: number; source: string }[],
    events(filter) {
      const where: string[] = [];
      const params: Record<string, unknown> = {};
      if (filter.recipient) {
        where.push('recipient = @recipient');
        params.recipient = filter.recipient;
      }
      if (filter.since !== undefined) {
        where.push('recorded_at >= @since');
        params.since = filter.since;
      }
      if (filter.afterId !== undefined) {
        where.push('id > @afterId');
        params.afterId = filter.afterId;
      }
      if (filter.limit !== undefined) params.limit = filter.limit;
      const sql = `${selectEvents}${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY id${filter.limit !== undefined ? ' LIMIT @limit' : ''}`;
      return db.prepare(sql).iterate(params) as IterableIterator<ConsentEvent>;
    },
    recordSends: (sends) => sendAll(sends),
    history: (recipient, limit = 1000, now = Date.now()) => (historyQuery.all({ r: recipient, limit, now }) as Record<string, unknown>[]).map((row) => historyRow(row).entry),
  };
}
