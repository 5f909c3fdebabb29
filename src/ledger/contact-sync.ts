import type { ContactBatch, ContactInput, ContactSyncResult, GroupMember, Contact } from './types.js';

/*
 * What both backends share about contacts: how a field value is compared,
 * a stored contact as read, and the plan of an import (which rows to add,
 * update, keep or remove) that each backend then writes.
 */

/** What `where` compares: trimmed, lower case, NFC, so "U14 " in a spreadsheet matches `team: u14`. */
export function fieldKey(value: string): string {
  return value.normalize('NFC').trim().toLowerCase();
}

/** A contact as both backends read it (postgres/contacts.ts too): fields as JSON, groups comma-separated. */
export interface ContactRow {
  rowId: number;
  source: string;
  id: string;
  number: string;
  fields: string;
  groups: string | null;
  createdAt: number;
  updatedAt: number;
}

export function toContact(row: ContactRow): Contact {
  return {
    source: row.source,
    id: row.id,
    number: row.number,
    groups: row.groups ? row.groups.split(',').sort() : [],
    fields: JSON.parse(row.fields) as Record<string, string>,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export type MemberRow = { number: string; source: string; id: string; fields: string };

export function toMember(row: MemberRow): GroupMember {
  return { number: row.number, source: row.source, id: row.id, fields: JSON.parse(row.fields) as Record<string, string> };
}

/** The same contact, field for field: an import that changes nothing writes nothing. */
export function sameContact(stored: { number: string; fields: string; groups: string | null }, input: ContactInput, fieldsJson: string): boolean {
  const groups = stored.groups ? stored.groups.split(',').sort().join(',') : '';
  return stored.number === input.number && stored.fields === fieldsJson && groups === [...input.groups].sort().join(',');
}

/** What an import does to one source's stored contacts; each backend writes it (contacts.ts, postgres/contacts.ts). */
export interface ContactSyncPlan {
  add: { input: ContactInput; fieldsJson: string }[];
  update: { rowId: number; input: ContactInput; fieldsJson: string }[];
  unchanged: number;
  /** Stored rows the import no longer lists (only with replace). */
  remove: number[];
}

export function planContactSync(stored: ReadonlyMap<string, ContactRow>, contacts: readonly ContactInput[], replace: boolean): ContactSyncPlan {
  const plan: ContactSyncPlan = { add: [], update: [], unchanged: 0, remove: [] };
  const listed = new Set<string>();
  for (const input of contacts) {
    listed.add(input.id);
    const fieldsJson = JSON.stringify(input.fields);
    const row = stored.get(input.id);
    if (!row) plan.add.push({ input, fieldsJson });
    else if (sameContact(row, input, fieldsJson)) plan.unchanged++;
    else plan.update.push({ rowId: row.rowId, input, fieldsJson });
  }
  if (replace) for (const row of stored.values()) if (!listed.has(row.id)) plan.remove.push(row.rowId);
  return plan;
}

export const syncResult = (plan: ContactSyncPlan): ContactSyncResult =>
  ({ added: plan.add.length, updated: plan.update.length, unchanged: plan.unchanged, removed: plan.remove.length });

/** The contacts of a batch; an encoded one is decoded where the import runs (the ledger thread, for SQLite). */
export function contactsOf(batch: ContactBatch): readonly ContactInput[] {
  return 'encoded' in batch ? (JSON.parse(Buffer.from(batch.encoded.buffer, batch.encoded.byteOffset, batch.encoded.byteLength).toString('utf8')) as ContactInput[]) : batch;
}
