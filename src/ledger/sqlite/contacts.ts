import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { Contact, ContactBatch, ContactInput, ContactSyncResult, GroupMember, GroupSelector } from '../types.js';
import { fieldKey, planContactSync, syncResult, toContact, toMember, type ContactRow } from '../contact-sync.js';

/*
 * Contacts and groups in SQL any database speaks: a contacts table keyed by
 * (source, id), fixed groups as rows, and one row per field value so a
 * dynamic group (`where: {team: [A, B]}`) is an indexed EXISTS per field.
 * Synchronous, like the rest of the SQLite ledger; the CLI uses it directly,
 * the daemon through the ledger's write queue.
 */

export interface SyncContactStore {
  importContacts(source: string, contacts: readonly ContactInput[], replace: boolean, now: number): ContactSyncResult;
  findContacts(ref: { number: string } | { id: string }): Contact[];
  listContacts(): Contact[];
  deleteContacts(ref: { number: string } | { id: string }): number;
  groupMembers(selector: GroupSelector): GroupMember[];
  contactsByNumber(numbers: readonly string[]): GroupMember[];
}

const SELECT_CONTACT = `SELECT c.id AS rowId, c.source, c.contact_key AS id, c.number, c.fields, c.created_at AS createdAt, c.updated_at AS updatedAt,
    (SELECT group_concat(g.group_name, ',') FROM contact_groups g WHERE g.contact_id = c.id) AS groups FROM contacts c`;
const SELECT_MEMBER = 'SELECT c.number, c.source, c.contact_key AS id, c.fields FROM contacts c';

export function createContactStore(db: Db): SyncContactStore {
  const stmt = {
    existing: db.prepare(
      `SELECT c.id AS rowId, c.contact_key AS id, c.number, c.fields,
              (SELECT group_concat(g.group_name, ',') FROM contact_groups g WHERE g.contact_id = c.id) AS groups
         FROM contacts c WHERE c.source = ?`,
    ),
    insert: db.prepare('INSERT INTO contacts (source, contact_key, number, fields, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)'),
    update: db.prepare('UPDATE contacts SET number = ?, fields = ?, updated_at = ? WHERE id = ?'),
    clearGroups: db.prepare('DELETE FROM contact_groups WHERE contact_id = ?'),
    clearFields: db.prepare('DELETE FROM contact_fields WHERE contact_id = ?'),
    addGroup: db.prepare('INSERT INTO contact_groups (group_name, contact_id) VALUES (?, ?)'),
    addField: db.prepare('INSERT INTO contact_fields (contact_id, name, value_key) VALUES (?, ?, ?)'),
    remove: db.prepare('DELETE FROM contacts WHERE id = ?'),
    byNumber: db.prepare(`${SELECT_CONTACT} WHERE c.number = ? ORDER BY c.id`),
    byKey: db.prepare(`${SELECT_CONTACT} WHERE c.contact_key = ? ORDER BY c.id`),
    all: db.prepare(`${SELECT_CONTACT} ORDER BY c.id`),
    allMembers: db.prepare(`${SELECT_MEMBER} ORDER BY c.id`),
    fixedMembers: db.prepare(`${SELECT_MEMBER} JOIN contact_groups g ON g.contact_id = c.id WHERE g.group_name = ? ORDER BY c.id`),
    memberByNumber: db.prepare(`${SELECT_MEMBER} WHERE c.number = ? ORDER BY c.id LIMIT 1`),
  };
  const whereStatements = new Map<string, Statement<string[]>>();

  function writeDetails(rowId: number, input: ContactInput): void {
    for (const group of new Set(input.groups)) stmt.addGroup.run(group, rowId);
    for (const [name, value] of Object.entries(input.fields)) stmt.addField.run(rowId, name, fieldKey(value));
  }

  const importAll = db.transaction((source: string, contacts: readonly ContactInput[], replace: boolean, now: number): ContactSyncResult => {
    const stored = new Map((stmt.existing.all(source) as ContactRow[]).map((row) => [row.id, row]));
    const plan = planContactSync(stored, contacts, replace);
    for (const { input, fieldsJson } of plan.add) {
      const rowId = Number(stmt.insert.run(source, input.id, input.number, fieldsJson, now, now).lastInsertRowid);
      writeDetails(rowId, input);
    }
    for (const { rowId, input, fieldsJson } of plan.update) {
      stmt.update.run(input.number, fieldsJson, now, rowId);
      stmt.clearGroups.run(rowId);
      stmt.clearFields.run(rowId);
      writeDetails(rowId, input);
    }
    for (const rowId of plan.remove) stmt.remove.run(rowId);
    return syncResult(plan);
  });

  const rowsOf = (ref: { number: string } | { id: string }): ContactRow[] =>
    ('number' in ref ? stmt.byNumber.all(ref.number) : stmt.byKey.all(ref.id)) as ContactRow[];

  const removeAll = db.transaction((ref: { number: string } | { id: string }): number => {
    const rows = rowsOf(ref);
    for (const row of rows) stmt.remove.run(row.rowId);
    return rows.length;
  });

  /** One EXISTS per field, each value list as placeholders: plain SQL, cached by shape. */
  function whereMembers(where: Readonly<Record<string, readonly string[]>>): GroupMember[] {
    const entries = Object.entries(where).sort(([a], [b]) => a.localeCompare(b));
    const shape = entries.map(([, values]) => values.length).join(',');
    let query = whereStatements.get(shape);
    if (!query) {
      const clauses = entries.map(
        ([, values]) => `EXISTS (SELECT 1 FROM contact_fields f WHERE f.contact_id = c.id AND f.name = ? AND f.value_key IN (${values.map(() => '?').join(', ')}))`,
      );
      query = db.prepare<string[]>(`${SELECT_MEMBER} WHERE ${clauses.join(' AND ')} ORDER BY c.id`);
      whereStatements.set(shape, query);
    }
    const params = entries.flatMap(([name, values]) => [name, ...values.map(fieldKey)]);
    return (query.all(...params) as { number: string; source: string; id: string; fields: string }[]).map(toMember);
  }

  return {
    importContacts: (source, contacts, replace, now) => importAll(source, contacts, replace, now),
    findContacts: (ref) => rowsOf(ref).map(toContact),
    listContacts: () => (stmt.all.all() as ContactRow[]).map(toContact),
    deleteContacts: (ref) => removeAll(ref),
    groupMembers(selector) {
      if (selector.kind === 'all') return (stmt.allMembers.all() as { number: string; source: string; id: string; fields: string }[]).map(toMember);
      if (selector.kind === 'fixed') return (stmt.fixedMembers.all(selector.name) as { number: string; source: string; id: string; fields: string }[]).map(toMember);
      return whereMembers(selector.where);
    },
    contactsByNumber(numbers) {
      const found: GroupMember[] = [];
      for (const number of new Set(numbers)) {
        const row = stmt.memberByNumber.get(number) as { number: string; source: string; id: string; fields: string } | undefined;
        if (row) found.push(toMember(row));
      }
      return found;
    },
  };
}
