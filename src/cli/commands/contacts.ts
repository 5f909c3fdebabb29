import type { Command } from 'commander';
import { isSupportedCountry, type CountryCode } from 'libphonenumber-js/max';
import type { Config } from '../../config/load.js';
import { ALL_GROUP } from '../../config/schema.js';
import { maskNumber } from '../../core/log.js';
import { parseTable } from '../../core/file-rows.js';
import { toCsv } from '../../core/csv-ndjson.js';
import { contactCountry, readContactRows } from '../../intake/contact-rows.js';
import { groupSelector } from '../../intake/groups.js';
import type { Contact, ContactStore } from '../../ledger/types.js';
import { withCliLedger } from '../ledger.js';
import { parseRecipientNumber } from '../../numbers/parse.js';
import { CliFailure, configOption, load } from '../common.js';
import { EXIT } from '../exit.js';
import type { CliIo } from '../io.js';
import { readInputFile } from '../input.js';

/*
 * `mail2sms contacts …` and `mail2sms groups …`: the contacts in the ledger
 * (imported from a members' CSV) and the groups the config declares. They
 * work while the daemon runs: SQLite serialises the two writers.
 */

export const DEFAULT_SOURCE = 'default';

/** The ledger through the interface the daemon uses; `create` makes an empty one first (a first import). */
function withStore<T>(config: Config, create: boolean, use: (store: ContactStore) => Promise<T>): Promise<T> {
  return withCliLedger(config, use, { create });
}

function countryOption(value: string | undefined): CountryCode | undefined {
  if (value === undefined) return undefined;
  const code = value.toUpperCase();
  if (!isSupportedCountry(code)) throw new CliFailure(`--country: "${value}" is not an ISO 3166 country code`, EXIT.usage);
  return code;
}

/** A number (any form the import accepts) or else a contact id. */
function contactRef(value: string, country: CountryCode | undefined): { number: string } | { id: string } {
  const compact = value.replace(/[\s().-]/g, '');
  if (/^(\+|00)?\d{3,17}$/.test(compact) && (country || /^(\+|00)/.test(compact))) {
    const parsed = parseRecipientNumber(value, country ?? 'DK');
    if (parsed.ok) return { number: parsed.e164 };
  }
  return { id: value };
}

function contactRecord(c: Contact): Record<string, string> {
  return { source: c.source, id: c.id, number: c.number, groups: c.groups.join(';'), ...c.fields };
}

async function importContacts(file: string, opts: { source: string; replace?: boolean; country?: string; config: string }, out: (text: string) => void): Promise<void> {
  const config = load(opts.config);
  const { text, format } = readInputFile(file);
  const table = parseTable(text, format);
  const rows = table.ok ? readContactRows(table.rows, config.main.groups, contactCountry(config, countryOption(opts.country))) : table;
  if (!rows.ok) {
    const shown = rows.errors.slice(0, 50).map((e) => `${file}:${e.line}: ${e.message}`).join('\n');
    const more = rows.errors.length > 50 ? `\n… and ${rows.errors.length - 50} more` : '';
    throw new CliFailure(`${rows.errors.length} invalid row(s); nothing was imported:\n${shown}${more}`, EXIT.dataErr);
  }
  const result = await withStore(config, true, (store) => store.importContacts(opts.source, rows.contacts, opts.replace === true));
  out(`source ${opts.source}: ${result.added} added, ${result.updated} updated, ${result.unchanged} unchanged${opts.replace ? `, ${result.removed} removed` : ''}\n`);
}

export function registerContactsCommands(program: Command, { out }: CliIo): void {
  const contacts = program.command('contacts').description('contacts in the ledger: import a members\' CSV, show, export, delete');
  contacts
    .command('import')
    .description('import contacts from CSV (header row) or NDJSON: number, id?, groups? (fixed groups separated by ;), and merge fields; all or nothing')
    .argument('<file>')
    .option('--source <name>', 'the list these contacts come from; importing it again updates by id', DEFAULT_SOURCE)
    .option('--replace', 'the file is the whole truth for the source: its contacts not in the file are removed')
    .option('--country <code>', 'country of numbers written without a country code (default: the setups\' default_country when they agree)')
    .addOption(configOption())
    .action((file: string, opts: { source: string; replace?: boolean; country?: string; config: string }) => importContacts(file, opts, out));

  contacts
    .command('show')
    .description('the contacts with this number or id, in every source')
    .argument('<number|id>')
    .option('--country <code>')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (ref: string, opts: { country?: string; json?: boolean; config: string }) => {
      const config = load(opts.config);
      const found = await withStore(config, false, (store) => store.findContacts(contactRef(ref, contactCountry(config, countryOption(opts.country)))));
      if (opts.json) return out(JSON.stringify(found.map((c) => ({ ...c, createdAt: new Date(c.createdAt).toISOString(), updatedAt: new Date(c.updatedAt).toISOString() })), null, 2) + '\n');
      if (found.length === 0) throw new CliFailure(`no contact with number or id "${ref}"`, EXIT.dataErr);
      out(found.map((c) => [
        `${c.number}  id ${c.id}  (source ${c.source}, updated ${new Date(c.updatedAt).toISOString()})`,
        `  groups: ${c.groups.length ? c.groups.join(', ') : 'none'}`,
        ...Object.entries(c.fields).map(([name, value]) => `  ${name}: ${value}`),
      ].join('\n')).join('\n') + '\n');
    });

  contacts
    .command('export')
    .description('every contact: source, id, number, groups and merge fields')
    .option('--format <format>', 'csv | ndjson', 'csv')
    .addOption(configOption())
    .action(async (opts: { format: string; config: string }) => {
      if (opts.format !== 'csv' && opts.format !== 'ndjson') throw new CliFailure(`--format: "${opts.format}" is not csv or ndjson`, EXIT.usage);
      const config = load(opts.config);
      const all = await withStore(config, false, (store) => store.listContacts());
      if (opts.format === 'ndjson') return out(all.map((c) => JSON.stringify(contactRecord(c)) + '\n').join(''));
      const fieldNames = [...new Set(all.flatMap((c) => Object.keys(c.fields)))].sort();
      out(toCsv(['source', 'id', 'number', 'groups', ...fieldNames], all.map(contactRecord)));
    });

  contacts
    .command('delete')
    .description('remove the contacts with this number or id (consent and history stay)')
    .argument('<number|id>')
    .option('--country <code>')
    .addOption(configOption())
    .action(async (ref: string, opts: { country?: string; config: string }) => {
      const config = load(opts.config);
      const removed = await withStore(config, false, (store) => store.deleteContacts(contactRef(ref, contactCountry(config, countryOption(opts.country)))));
      if (removed === 0) throw new CliFailure(`no contact with number or id "${ref}"`, EXIT.dataErr);
      out(`deleted ${removed} contact(s)\n`);
    });

  registerGroupsCommands(program, out);
}

function groupsOf(config: Config): { name: string; kind: string }[] {
  const declared = Object.entries(config.main.groups).map(([name, group]) => ({ name, kind: group.where ? `dynamic (${describeWhere(group.where)})` : 'fixed' }));
  return [{ name: ALL_GROUP, kind: 'built in (every contact)' }, ...declared];
}

function describeWhere(where: Readonly<Record<string, readonly string[]>>): string {
  return Object.entries(where).map(([field, values]) => `${field}: ${values.length > 1 ? `[${values.join(', ')}]` : values[0]}`).join(', ');
}

function registerGroupsCommands(program: Command, out: (text: string) => void): void {
  const groups = program.command('groups').description('the groups the config declares and who is in them now');
  groups
    .command('list')
    .description('every group: name, kind, member count, and the setups that may address it')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (opts: { json?: boolean; config: string }) => {
      const config = load(opts.config);
      const rows = await withStore(config, true, (store) =>
        Promise.all(
          groupsOf(config).map(async ({ name, kind }) => ({
            name,
            kind,
            members: new Set((await store.groupMembers(groupSelector(config, name) ?? { kind: 'fixed', name })).map((m) => m.number)).size,
            setups: config.setups.filter((s) => s.groups.includes(name)).map((s) => s.id),
          })),
        ),
      );
      if (opts.json) return out(JSON.stringify(rows, null, 2) + '\n');
      const width = Math.max(5, ...rows.map((r) => r.name.length));
      out(rows.map((r) => `${r.name.padEnd(width)}  ${String(r.members).padStart(6)} member(s)  ${r.kind}${r.setups.length ? `; addressed by ${r.setups.join(', ')}` : ''}`).join('\n') + '\n');
    });

  groups
    .command('show')
    .description('the members of a group now (numbers masked unless --full)')
    .argument('<name>')
    .option('--full', 'show numbers in full')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (name: string, opts: { full?: boolean; json?: boolean; config: string }) => {
      const config = load(opts.config);
      const selector = groupSelector(config, name.toLowerCase());
      if (!selector) throw new CliFailure(`no group "${name}" (declared: ${groupsOf(config).map((g) => g.name).join(', ')})`, EXIT.dataErr);
      const members = await withStore(config, true, (store) => store.groupMembers(selector));
      const shown = members.map((m) => ({ number: opts.full ? m.number : maskNumber(m.number), id: m.id, source: m.source, fields: m.fields, ownId: m.id !== m.number }));
      if (opts.json) return out(JSON.stringify({ group: name.toLowerCase(), members: shown.map(({ ownId: _own, ...m }) => ({ ...m, id: _own ? m.id : m.number })) }, null, 2) + '\n');
      const lines = [`${name.toLowerCase()}: ${new Set(members.map((m) => m.number)).size} member(s)`];
      for (const m of shown) lines.push(`  ${m.number}  ${m.ownId ? `id ${m.id}  ` : ''}${Object.entries(m.fields).map(([k, v]) => `${k}=${v}`).join(' ')}`.trimEnd());
      out(lines.join('\n') + '\n');
    });
}
