import { contactsOf, fieldKey, planContactSync, syncResult, toContact, toMember, type ContactRow, type MemberRow } from '../contact-sync.js';
import type { Contact, ContactInput, ContactStore, ContactSyncResult, GroupMember } from '../types.js';
import { inTransaction, type PgClient, type PgPool } from './pool.js';

/* ../contacts.ts on PostgreSQL: the same tables, the same rules (and row readers), async. */

const GROUPS_OF = `(SELECT string_agg(g.group_name, ',') FROM contact_groups g WHERE g.contact_id = c.id) AS groups`;
const SELECT_CONTACT = `SELECT c.id AS "rowId", c.source, c.contact_key AS id, c.number, c.fields, c.created_at AS "createdAt", c.updated_at AS "updatedAt",
    ${GROUPS_OF} FROM contacts c`;
const SELECT_MEMBER = 'SELECT c.number, c.source, c.contact_key AS id, c.fields FROM contacts c';

async function writeDetails(client: PgClient, rowId: number, input: ContactInput): Promise<void> {
  for (const group of new Set(input.groups)) await client.query('INSERT INTO contact_groups (group_name, contact_id) VALUES ($1, $2)', [group, rowId]);
  for (const [name, value] of Object.entries(input.fields)) {
    await client.query('INSERT INTO contact_fields (contact_id, name, value_key) VALUES ($1, $2, $3)', [rowId, name, fieldKey(value)]);
  }
}

export function createPgContacts(pool: PgPool, now: () => number): ContactStore {
  const rowsOf = async (client: PgClient | PgPool, ref: { number: string } | { id: string }) =>
    (await client.query<ContactRow>(`${SELECT_CONTACT} WHERE ${'number' in ref ? 'c.number' : 'c.contact_key'} = $1 ORDER BY c.id`,
      ['number' in ref ? ref.number : ref.id])).rows;

  return {
    importContacts: (source, contacts, replace) =>
      inTransaction(pool, async (client) => {
        const at = now();
        const stored = new Map((await client.query<ContactRow>(
          `SELECT c.id AS "rowId", c.contact_key AS id, c.number, c.fields, ${GROUPS_OF} FROM contacts c WHERE c.source = $1 FOR UPDATE`, [source],
        )).rows.map((row) => [row.id, row]));
        const plan = planContactSync(stored, contactsOf(contacts), replace);
        for (const { input, fieldsJson } of plan.add) {
          const inserted = await client.query<{ id: number }>(
            'INSERT INTO contacts (source, contact_key, number, fields, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) RETURNING id',
            [source, input.id, input.number, fieldsJson, at]);
          await writeDetails(client, inserted.rows[0]!.id, input);
        }
        for (const { rowId, input, fieldsJson } of plan.update) {
          await client.query('UPDATE contacts SET number = $1, fields = $2, updated_at = $3 WHERE id = $4', [input.number, fieldsJson, at, rowId]);
          await client.query('DELETE FROM contact_groups WHERE contact_id = $1', [rowId]);
          await client.query('DELETE FROM contact_fields WHERE contact_id = $1', [rowId]);
          await writeDetails(client, rowId, input);
        }
        if (plan.remove.length > 0) await client.query('DELETE FROM contacts WHERE id = ANY($1::bigint[])', [plan.remove]);
        return syncResult(plan);
      }),
    findContacts: async (ref) => (await rowsOf(pool, ref)).map(toContact),
    listContacts: async () => (await pool.query<ContactRow>(`${SELECT_CONTACT} ORDER BY c.id`)).rows.map(toContact),
    deleteContacts: (ref) =>
      inTransaction(pool, async (client) => {
        const rows = await rowsOf(client, ref);
        if (rows.length > 0) await client.query('DELETE FROM contacts WHERE id = ANY($1::bigint[])', [rows.map((r) => r.rowId)]);
        return rows.length;
      }),
    async groupMembers(selector) {
      if (selector.kind === 'all') return (await pool.query<MemberRow>(`${SELECT_MEMBER} ORDER BY c.id`)).rows.map(toMember);
      if (selector.kind === 'fixed') {
        return (await pool.query<MemberRow>(`${SELECT_MEMBER} JOIN contact_groups g ON g.contact_id = c.id WHERE g.group_name = $1 ORDER BY c.id`, [selector.name])).rows.map(toMember);
      }
      // One EXISTS per field; each value list is one array parameter.
      const entries = Object.entries(selector.where).sort(([a], [b]) => a.localeCompare(b));
      const clauses = entries.map((_, i) =>
        `EXISTS (SELECT 1 FROM contact_fields f WHERE f.contact_id = c.id AND f.name = $${2 * i + 1} AND f.value_key = ANY($${2 * i + 2}::text[]))`);
      const params = entries.flatMap(([name, values]) => [name, values.map(fieldKey)]);
      return (await pool.query<MemberRow>(`${SELECT_MEMBER} WHERE ${clauses.join(' AND ')} ORDER BY c.id`, params)).rows.map(toMember);
    },
    async contactsByNumber(numbers) {
      const found: GroupMember[] = [];
      for (const number of new Set(numbers)) {
        const row = (await pool.query<MemberRow>(`${SELECT_MEMBER} WHERE c.number = $1 ORDER BY c.id LIMIT 1`, [number])).rows[0];
        if (row) found.push(toMember(row));
      }
      return found;
    },
  };
}
