import { createHash, randomBytes } from 'node:crypto';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { isSupportedCountry, type CountryCode } from 'libphonenumber-js/max';
import { REPORTED_CHANNELS, type ConsentChange, type ConsentEvent, type ExternalSend, type ReportedChannel } from '../ledger/consent.js';
import { parseRecipientNumber } from '../numbers/parse.js';
import { parseInstant } from '../core/units.js';
import { toCsv } from '../core/csv-ndjson.js';
import { csvSafeRecord } from '../core/csv-safe.js';
import { parseTable, type TableRow } from '../core/file-rows.js';
import { CliFailure, configOption, load } from './common.js';
import type { Config } from '../config/load.js';
import { TOKEN_SCOPES, type TokenScope } from '../config/schema.js';
import { EXIT } from './exit.js';
import { readInputFile } from './input.js';
import { withCliLedger } from './ledger.js';

/*
 * The ledger from the command line: other channels report their sends,
 * compliance records and reads consent, and anyone can ask why a number did
 * or did not get an SMS. Every command works while the daemon runs (SQLite
 * serialises the two writers) and on either backend, through the ledger
 * interface the daemon uses.
 */

/** A number as typed: international (+45…, 0045…), or national with --country. */
/**
 * A number from the command line: with --country, or the setups' default_country when they all
 * agree (the daemon would read it the same way from any of them), or written with its country code.
 */
export function readNumber(value: string, country: string | undefined, config: Config, where = 'number'): string {
  const code = country?.toUpperCase();
  if (code !== undefined && !isSupportedCountry(code)) throw new CliFailure(`--country: "${country}" is not an ISO 3166 country code`, EXIT.usage);
  const compact = value.trim();
  const international = /^(\+|00)/.test(compact.replace(/[\s().-]/g, ''));
  const defaults = setupCountries(config);
  const fallback = code ?? (defaults.size === 1 ? [...defaults.keys()][0] : undefined);
  if (!fallback && !international) {
    const which = [...defaults].map(([c, ids]) => `${c} in ${ids.join(', ')}`).join('; ');
    throw new CliFailure(`${where}: "${value}" has no country code and the setups' default_country differ (${which}): write +<country code><number> or pass --country ${[...defaults.keys()].join('|')}`, EXIT.dataErr);
  }
  const parsed = parseRecipientNumber(compact, (fallback ?? 'DK') as CountryCode);
  if (!parsed.ok) throw new CliFailure(`${where}: ${parsed.detail}`, EXIT.dataErr);
  return parsed.e164;
}

/** Each default_country of the setups, with the setups that use it. */
function setupCountries(config: Config): Map<string, string[]> {
  const countries = new Map<string, string[]>();
  for (const setup of config.setups) {
    const code = setup.default_country.toUpperCase();
    countries.set(code, [...(countries.get(code) ?? []), setup.id]);
  }
  return countries;
}

/** RFC 3339 / ISO 8601 with a zone, or epoch milliseconds. */
export function readTime(value: string, where: string): number {
  const ms = parseInstant(value);
  if (ms === undefined) throw new CliFailure(`${where}: "${value}" is not a time (use RFC 3339 with a zone, e.g. 2026-11-22T09:00:00Z)`, EXIT.dataErr);
  return ms;
}

/** A time a send happened: not more than limits.clock_skew ahead (a send "in 2030" would silence a number for years). */
function readSendTime(value: string, where: string, now: number, maxSkewMs: number): number {
  const ms = readTime(value, where);
  if (ms > now + maxSkewMs) {
    throw new CliFailure(`${where}: "${value}" is in the future (more than ${Math.round(maxSkewMs / 1000)} s ahead of this clock, limits.clock_skew); give the time the SMS was sent`, EXIT.dataErr);
  }
  return ms;
}

/** Writes make a SQLite ledger that is not there yet (as the daemon's first start would); reads need one. */
const CREATE = { create: true };

/** How many consent events an export reads at a time: the audit trail can be millions of rows. */
const EXPORT_PAGE = 5_000;

function readTable(file: string): { rows: TableRow[]; format: 'csv' | 'ndjson' } {
  const { text, format } = readInputFile(file);
  const parsed = parseTable(text, format);
  if (!parsed.ok) throw new CliFailure(`${file}: ${parsed.errors.map((e) => `line ${e.line}: ${e.message}`).join('\n')}`, EXIT.dataErr);
  return { rows: parsed.rows, format };
}

/** Runs `read` over every row; reports every bad row with its line, or returns them all. */
function readRows<T>(file: string, rows: TableRow[], read: (row: TableRow) => T): T[] {
  const good: T[] = [];
  const bad: string[] = [];
  for (const row of rows) {
    try {
      good.push(read(row));
    } catch (error) {
      if (!(error instanceof CliFailure)) throw error;
      bad.push(`${file}:${row.line}: ${error.message}`);
    }
  }
  if (bad.length > 0) {
    const shown = bad.slice(0, 50).join('\n') + (bad.length > 50 ? `\n… and ${bad.length - 50} more` : '');
    throw new CliFailure(`${bad.length} invalid row(s); nothing was imported:\n${shown}`, EXIT.dataErr);
  }
  return good;
}

function field(row: TableRow, name: string): string | undefined {
  const value = row.fields[name];
  if (value === undefined || value === null) return undefined;
  const text = String(value).trim();
  return text === '' ? undefined : text;
}

function readChannel(value: string): ReportedChannel {
  if (!(REPORTED_CHANNELS as readonly string[]).includes(value)) {
    throw new CliFailure(`channel "${value}" is not one of ${REPORTED_CHANNELS.join(', ')}`, EXIT.dataErr);
  }
  return value as ReportedChannel;
}

const ISO = (ms: number) => new Date(ms).toISOString();

/** CSV of one page of an export: the header line with the first page only, so the pages join into one file. */
function csvRows(header: readonly string[], rows: Record<string, string>[], withHeader: boolean): string {
  const csv = toCsv(header, rows);
  return withHeader ? csv : csv.slice(toCsv(header, []).length);
}

function eventRecord(e: ConsentEvent): Record<string, string> {
  return {
    id: String(e.id),
    at: ISO(e.at),
    recorded_at: ISO(e.recordedAt),
    number: e.recipient,
    purpose: e.purpose === '' ? '*' : e.purpose,
    action: e.action,
    previous: e.previous ?? '',
    source: e.source,
    evidence: e.evidence ?? '',
  };
}

/** A purpose must be declared under consent.purposes: a typo would otherwise keep no opt-in fresh, silently. */
function requireDeclaredPurpose(config: Config, purpose: string, where: string, exitCode: number): void {
  const declared = Object.keys(config.main.consent.purposes);
  if (!declared.includes(purpose)) {
    throw new CliFailure(`${where}: "${purpose}" is not declared under consent.purposes (declared: ${declared.join(', ') || 'none'})`, exitCode);
  }
}

/** `record-send --file`: every row a send, or the first bad row's error. */
function sendsFromFile(config: Config, file: string, number: string | undefined, opts: { channel: string; country?: string }): ExternalSend[] {
  if (number) throw new CliFailure('give a number or --file, not both', EXIT.usage);
  const { rows } = readTable(file);
  const now = Date.now();
  return readRows(file, rows, (row) => {
    const to = field(row, 'number');
    if (!to) throw new CliFailure('number: missing', EXIT.dataErr);
    const at = field(row, 'at');
    const ref = field(row, 'ref');
    const purpose = field(row, 'purpose');
    if (purpose) requireDeclaredPurpose(config, purpose, 'purpose', EXIT.dataErr);
    return {
      recipient: readNumber(to, opts.country, config),
      at: at ? readSendTime(at, 'at', now, config.main.limits.clock_skew) : now,
      channel: readChannel(field(row, 'channel') ?? opts.channel),
      ...(ref ? { ref } : {}),
      ...(purpose ? { purpose } : {}),
    };
  });
}

/** `record-send <number>`: the one send its options describe. */
function oneSend(config: Config, number: string | undefined, opts: { at?: string; channel: string; ref?: string; purpose?: string; country?: string }): ExternalSend {
  if (!number) throw new CliFailure('give the number the SMS went to, or --file', EXIT.usage);
  if (opts.purpose) requireDeclaredPurpose(config, opts.purpose, '--purpose', EXIT.usage);
  return {
    recipient: readNumber(number, opts.country, config),
    at: opts.at ? readSendTime(opts.at, '--at', Date.now(), config.main.limits.clock_skew) : Date.now(),
    channel: readChannel(opts.channel),
    ...(opts.ref ? { ref: opts.ref } : {}),
    ...(opts.purpose ? { purpose: opts.purpose } : {}),
  };
}

export function registerLedgerCommands(program: Command, out: (text: string) => void): void {
  program
    .command('record-send')
    .description('report an SMS another channel sent, so the organisation-wide cooldown and caps count it')
    .argument('[number]', 'the number it went to (+45…)')
    .option('--at <time>', 'when it was sent (RFC 3339; default now)')
    .option('--channel <channel>', `the channel: ${REPORTED_CHANNELS.join(' | ')}`, 'api')
    .option('--ref <id>', 'the other system\'s id for the send: reporting it again counts once')
    .option('--purpose <purpose>', 'the consent purpose of a marketing send (keeps that opt-in fresh)')
    .option('--file <file>', 'many sends from CSV or NDJSON (columns number, at, channel, ref, purpose); all or nothing')
    .option('--country <code>', 'country of numbers written without a country code')
    .addOption(configOption())
    .action(async (number: string | undefined, opts: { at?: string; channel: string; ref?: string; purpose?: string; file?: string; country?: string; config: string }) => {
      const config = load(opts.config);
      const sends = opts.file ? sendsFromFile(config, opts.file, number, opts) : [oneSend(config, number, opts)];
      const result = await withCliLedger(config, (ledger) => ledger.recordExternalSends(sends), CREATE);
      out(`recorded ${result.recorded} send(s)${result.duplicates ? `; ${result.duplicates} already recorded (same channel and ref)` : ''}\n`);
    });

  registerConsentCommands(program, out);
  registerHistoryAndToken(program, out);
}

function registerConsentCommands(program: Command, out: (text: string) => void): void {
  const consent = program.command('consent').description('record, show and export consent (opt-in per purpose, global opt-out)');

  const change = (action: 'opt_in' | 'opt_out') => async (number: string, opts: { purpose?: string; source: string; evidence?: string; at?: string; country?: string; config: string }) => {
    const config = load(opts.config);
    if (opts.purpose) requireDeclaredPurpose(config, opts.purpose, '--purpose', EXIT.usage);
    const recipient = readNumber(number, opts.country, config);
    const wanted: ConsentChange = { recipient, action, source: opts.source, ...(opts.purpose ? { purpose: opts.purpose } : {}), ...(opts.evidence ? { evidence: opts.evidence } : {}), ...(opts.at ? { at: readTime(opts.at, '--at') } : {}) };
    const [event] = await withCliLedger(config, (ledger) => ledger.changeConsent([wanted]), CREATE);
    const scope = opts.purpose ? `purpose ${opts.purpose}` : 'all SMS';
    out(`${recipient}: ${action === 'opt_in' ? 'opted in to' : 'opted out of'} ${scope} (was ${event?.previous ?? 'none'}; event ${event?.id})\n`);
  };
  for (const [name, action, what] of [
    ['set', 'opt_in', 'record an opt-in: for --purpose, or (without it) lift a global opt-out'],
    ['revoke', 'opt_out', 'record an opt-out: of --purpose, or (without it) of every SMS'],
  ] as const) {
    consent
      .command(name)
      .description(what)
      .argument('<number>')
      .option('--purpose <purpose>', 'the marketing purpose (default: the global switch)')
      .requiredOption('--source <source>', 'where the change came from (web form, phone call, …)')
      .option('--evidence <text>', 'what proves it (form id, call note, …)')
      .option('--at <time>', 'when it was given (default now)')
      .option('--country <code>', 'country of a number without country code')
      .addOption(configOption())
      .action(change(action));
  }

  consent
    .command('import')
    .description('bulk opt-in from CSV or NDJSON (columns number, and optionally at, evidence, source); all or nothing')
    .argument('<file>')
    .requiredOption('--purpose <purpose>', 'the purpose the numbers opted in to')
    .requiredOption('--source <source>', 'where the opt-ins came from')
    .option('--country <code>', 'country of numbers written without a country code')
    .addOption(configOption())
    .action(async (file: string, opts: { purpose: string; source: string; country?: string; config: string }) => {
      const config = load(opts.config);
      requireDeclaredPurpose(config, opts.purpose, '--purpose', EXIT.usage);
      const { rows } = readTable(file);
      const changes = readRows<ConsentChange>(file, rows, (row) => {
        const number = field(row, 'number');
        if (!number) throw new CliFailure('number: missing', EXIT.dataErr);
        const at = field(row, 'at');
        const evidence = field(row, 'evidence');
        return {
          recipient: readNumber(number, opts.country, config),
          purpose: opts.purpose,
          action: 'opt_in',
          source: field(row, 'source') ?? opts.source,
          ...(at ? { at: readTime(at, 'at') } : {}),
          ...(evidence ? { evidence } : {}),
        };
      });
      const written = await withCliLedger(config, (ledger) => ledger.changeConsent(changes), CREATE);
      out(`imported ${written.length} opt-in(s) for purpose ${opts.purpose}\n`);
    });

  consent
    .command('show')
    .description('the current consent of one number, per purpose, and how it came about')
    .argument('<number>')
    .option('--country <code>')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (number: string, opts: { country?: string; json?: boolean; config: string }) => {
      const config = load(opts.config);
      const recipient = readNumber(number, opts.country, config);
      const recorded = await withCliLedger(config, (ledger) => ledger.consentOf(recipient));
      const current = recorded.current;
      const events = recorded.events.map(eventRecord);
      if (opts.json) return out(JSON.stringify({ number: recipient, current: current.map((c) => ({ ...c, since: ISO(c.since) })), events }, null, 2) + '\n');
      const globalOut = current.find((c) => c.purpose === '' && c.state === 'opt_out');
      const lines = [`${recipient}: ${globalOut ? `OPTED OUT of all SMS since ${ISO(globalOut.since)} (${globalOut.source})` : 'may receive alerts'}`];
      for (const c of current.filter((c) => c.purpose !== '')) {
        lines.push(`  purpose ${c.purpose}: ${c.state === 'opt_in' ? 'opted in' : 'opted out'} since ${ISO(c.since)} (${c.source})`);
      }
      if (events.length === 0) lines.push('  no consent recorded');
      else lines.push('  changes:', ...events.map((e) => `    ${e.at} ${e.action} ${e.purpose === '*' ? '(all SMS)' : e.purpose} by ${e.source}${e.evidence ? ` — ${e.evidence}` : ''} (before: ${e.previous || 'none'})`));
      out(lines.join('\n') + '\n');
    });

  consent
    .command('export')
    .description('the consent audit trail: every change with time, source, evidence and previous state')
    .option('--since <time>', 'only changes recorded since (RFC 3339)')
    .option('--format <format>', 'csv | ndjson', 'csv')
    .addOption(configOption())
    .action(async (opts: { since?: string; format: string; config: string }) => {
      const config = load(opts.config);
      if (opts.format !== 'csv' && opts.format !== 'ndjson') throw new CliFailure(`--format: "${opts.format}" is not csv or ndjson`, EXIT.usage);
      const since = opts.since ? readTime(opts.since, '--since') : undefined;
      const header = ['id', 'at', 'recorded_at', 'number', 'purpose', 'action', 'previous', 'source', 'evidence'];
      // Spreadsheets open this file: no cell may run as a formula (NDJSON is not escaped, it is no spreadsheet's).
      const write = opts.format === 'ndjson'
        ? (page: ConsentEvent[]) => out(page.map((e) => JSON.stringify(eventRecord(e)) + '\n').join(''))
        : (page: ConsentEvent[], first: boolean) => out(csvRows(header, page.map((e) => csvSafeRecord(eventRecord(e))), first));
      await withCliLedger(config, async (ledger) => {
        let afterId: number | undefined;
        for (let first = true; ; first = false) {
          const page = await ledger.consentEvents({ ...(since === undefined ? {} : { since }), ...(afterId === undefined ? {} : { afterId }), limit: EXPORT_PAGE });
          if (first || page.length > 0) write(page, first);
          if (page.length < EXPORT_PAGE) return;
          afterId = page.at(-1)?.id;
        }
      });
    });
}

function registerHistoryAndToken(program: Command, out: (text: string) => void): void {
  program
    .command('history')
    .description('every SMS, suppression, consent change and inbound SMS for one number, newest first')
    .argument('<number>')
    .option('--country <code>')
    .option('--limit <n>', 'at most this many entries', '200')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (number: string, opts: { country?: string; limit: string; json?: boolean; config: string }) => {
      const config = load(opts.config);
      const recipient = readNumber(number, opts.country, config);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new CliFailure('--limit: must be a positive whole number', EXIT.usage);
      const entries = await withCliLedger(config, (ledger) => ledger.numberHistory(recipient, limit));
      if (opts.json) return out(JSON.stringify(entries.map((e) => ({ ...e, at: ISO(e.at), ...(e.sentAt !== undefined ? { sentAt: ISO(e.sentAt) } : {}), ...(e.finalAt !== undefined ? { finalAt: ISO(e.finalAt) } : {}) })), null, 2) + '\n');
      if (entries.length === 0) return out(`${recipient}: nothing recorded\n`);
      out(`${recipient}\n` + entries.map((e) => `  ${ISO(e.at)}  ${e.kind.padEnd(10)} ${e.summary}${e.ref ? `  [${e.ref}]` : ''}`).join('\n') + '\n');
    });

  program
    .command('token')
    .description('make a bearer token for POST /sends and/or the console (--scope): prints the token (give it to its user) and the http.tokens entry with its sha256')
    .argument('<name>', 'who will use it, e.g. campaign-tool or helpdesk')
    .addOption(
      new Option('--scope <scope>', 'what it may do, repeatable: sends (POST /sends), console (the console, numbers masked), console:pii (full numbers and texts)')
        .argParser((scope: string, scopes: TokenScope[] | undefined) => {
          if (!(TOKEN_SCOPES as readonly string[]).includes(scope)) throw new InvalidArgumentError(`Allowed choices are ${TOKEN_SCOPES.join(', ')}.`);
          return [...(scopes ?? []), scope as TokenScope];
        }),
    )
    .action((name: string, opts: { scope?: TokenScope[] }) => {
      const token = randomBytes(32).toString('base64url');
      const sha256 = createHash('sha256').update(token).digest('hex');
      out(`token:  ${token}\n\n${tokenEntry(name, sha256, opts.scope ?? ['sends'])}`);
    });
}

/** The http.tokens entry, scopes written out: a token's use is then read in the config, not remembered. */
function tokenEntry(name: string, sha256: string, scopes: readonly TokenScope[]): string {
  const unique = [...new Set(scopes)];
  // console:pii is the console with more shown: the console scope comes with it (src/http/tokens.ts).
  const note = unique.includes('console:pii') && !unique.includes('console') ? '  # console:pii includes console' : '';
  return `# in mail2sms.yaml, under http: (scopes: ${TOKEN_SCOPES.join(', ')})\ntokens:\n  - name: ${JSON.stringify(name)}\n    sha256: ${sha256}\n    scopes: [${unique.join(', ')}]${note}\n`;
}
