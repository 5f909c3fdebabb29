import { readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { LineCounter, parseDocument, isMap, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { mainSchema, setupSchema, type MainConfig, type Setup } from './schema.js';
import { createSenderIndex, findSenderConflicts, type SenderIndex, type SenderOwner } from './match.js';
import { ConfigFileError, readConfigFile } from './read-file.js';
import { loadAutomations, type Automation } from './automations.js';
import { declaredOf, setupRefsOf, undeclaredGroups, undeclaredPurposes, type SetupRefs } from './cross-check.js';

export interface Config {
  /** Absolute path of the main config file. */
  file: string;
  main: MainConfig;
  setups: readonly Setup[];
  /** Scheduled SMS (automations_dir), valid and referring to known setups and groups. */
  automations: readonly Automation[];
  senders: SenderIndex;
  /** Absolute path of the SQLite file; '' when the ledger is on PostgreSQL (see `storage`). */
  storagePath: string;
  /** Which ledger: the SQLite file, or a PostgreSQL database shared by several daemons. */
  storage: StorageConfig;
  /** Where this daemon keeps its pid file and reload answer, and which setting chose it (see runtimeDirOf). */
  runtime: RuntimeDir;
  /** Where the provider posts receipts. */
  publicUrl: string;
  /** STARTTLS certificate and key, read when the config was loaded. */
  tls: { cert: Buffer; key: Buffer } | undefined;
  /** SMTP AUTH users of every setup, by user name. */
  users: ReadonlyMap<string, { setup: Setup; passwordHash: string }>;
}

export type StorageConfig =
  | { type: 'sqlite'; path: string; bookkeepingDelayMs: number; retentionMs: number | null }
  | { type: 'postgres'; url: string; pool: number; retentionMs: number | null };

export interface RuntimeDir {
  dir: string;
  /** What chose `dir`, for messages: the key, the environment variable, or the default it fell back to. */
  from: 'runtime_dir' | 'RUNTIME_DIRECTORY' | 'storage.path' | 'config file';
}

export interface ConfigIssue {
  file: string;
  line?: number;
  column?: number;
  field?: string;
  message: string;
}

export class ConfigError extends Error {
  readonly code = 'config_invalid';
  /** `unreadable`: the main file itself could not be read (its one issue says why); nothing else was looked at. */
  constructor(readonly issues: readonly ConfigIssue[], readonly kind: 'invalid' | 'unreadable' = 'invalid') {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatIssue(issue: ConfigIssue): string {
  const where = [issue.file, issue.line, issue.column].filter((part) => part !== undefined).join(':');
  return `${where}: ${issue.field ? `${issue.field}: ` : ''}${issue.message}`;
}

export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

const MAX_ALIAS_COUNT = 100;

interface Parsed<T> {
  value?: T;
  /** The file could not be read at all (missing, not permitted, not a regular file). */
  unreadable?: boolean;
  /** The YAML as plain values, when it parsed: what can be checked of an invalid file is still checked. */
  raw?: unknown;
  issues: ConfigIssue[];
}

/** Parses one YAML file and validates it, mapping every schema issue back to its line. */
export function parseYamlFile<S extends z.ZodType>(file: string, schema: S): Parsed<z.output<S>> {
  const shown = displayPath(file);
  let text: string;
  try {
    text = readConfigFile(file).toString('utf8');
  } catch (error) {
    return { unreadable: true, issues: [{ file: shown, message: error instanceof ConfigFileError ? error.message : `cannot read: ${String(error)}` }] };
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // One mistake often yields several parser errors on its line (an unclosed quote also leaves a map unclosed): the first says it.
    const byLine = new Map<number, ConfigIssue>();
    for (const error of doc.errors) {
      const pos = lineCounter.linePos(error.pos[0]);
      if (!byLine.has(pos.line)) byLine.set(pos.line, { file: shown, line: pos.line, column: pos.col, message: `YAML syntax: ${error.message.split('\n')[0]}` });
    }
    return { issues: [...byLine.values()] };
  }
  let raw: unknown;
  try {
    // Aliases are expanded: a few lines of anchors can expand to billions of nodes (an "alias bomb").
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (error) {
    return { issues: [{ file: shown, message: `YAML: ${(error as Error).message} (at most ${MAX_ALIAS_COUNT} alias expansions per file)` }] };
  }
  const result = schema.safeParse(raw, { reportInput: true });
  if (result.success) return { value: result.data, raw, issues: [] };
  return {
    raw,
    issues: result.error.issues.map((issue) => {
      const path = issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part));
      const extra = issue.code === 'unrecognized_keys' ? issue.keys : [];
      const fieldPath = extra.length === 1 ? [...path, extra[0] as string] : path;
      const pos = locate(doc, fieldPath, lineCounter);
      return {
        file: shown,
        ...pos,
        field: fieldPath.length > 0 ? fieldPath.join('.') : undefined,
        message: issue.code === 'unrecognized_keys' ? unknownKeyMessage(schema, path, extra) : describe(issue),
      };
    }),
  };
}

function unknownKeyMessage(schema: z.ZodType, path: (string | number)[], keys: string[]): string {
  const known = knownKeys(schema, path);
  const hints = keys.map((key) => closest(key, known)).filter((hint): hint is string => hint !== undefined);
  const what = keys.length > 1 ? `unknown keys ${keys.join(', ')}` : 'unknown key';
  return hints.length > 0 ? `${what}: did you mean \`${hints.join('`, `')}\`?` : `${what} (see docs/configuration-reference.md)`;
}

/** The keys the schema knows for the object at `path`. */
function knownKeys(schema: z.ZodType, path: (string | number)[]): string[] {
  let node: unknown = schema;
  const unwrap = (value: unknown): unknown => {
    for (let guard = 0; guard < 10; guard++) {
      const def = (value as { _zod?: { def?: { type?: string; innerType?: unknown; in?: unknown } } })._zod?.def;
      if (def?.type === 'default' || def?.type === 'optional' || def?.type === 'nullable') value = def.innerType;
      else if (def?.type === 'pipe') value = def.in;
      else return value;
    }
    return value;
  };
  for (const part of path) {
    node = unwrap(node);
    const shape = (node as { shape?: Record<string, unknown> }).shape;
    if (!shape || typeof part !== 'string' || !(part in shape)) return [];
    node = shape[part];
  }
  const shape = (unwrap(node) as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape).filter((key) => key !== '$schema') : [];
}

/** The known key a typo most likely meant: edit distance ≤ 2, or the same words in another order. */
function closest(key: string, known: string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  if (best) return best.key;
  const words = (k: string) => k.toLowerCase().split(/[_\-\s]+/).sort().join('_');
  return known.find((candidate) => words(candidate) === words(key));
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

/** What a field must be, in an admin's words (zod says "Invalid input: expected number, received string"). */
const EXPECTED: Record<string, string> = {
  number: 'must be a number',
  int: 'must be a whole number',
  string: 'must be text',
  boolean: 'must be true or false',
  array: 'must be a list',
  object: 'must be a map (key: value lines)',
};

function describe(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.input === undefined) return 'is required';
  const expected = issue.code === 'invalid_type' ? EXPECTED[issue.expected] : undefined;
  if (expected) {
    const given = JSON.stringify(issue.input) ?? String(issue.input);
    return `${expected}, not ${given.length > 40 ? `${given.slice(0, 37)}...` : given}`;
  }
  return issue.message;
}

/** The line of the deepest node on `path` that exists (a missing key points at its parent). */
function locate(doc: Document, path: (string | number)[], lineCounter: LineCounter): { line?: number; column?: number } {
  for (let depth = path.length; depth >= 0; depth--) {
    const sub = path.slice(0, depth);
    const node = (sub.length === 0 ? doc.contents : doc.getIn(sub, true)) as Node | undefined;
    if (node && typeof node === 'object' && node.range) {
      // For a map, point at the key the value hangs from rather than the first child.
      if (depth > 0 && isMap(doc.getIn(sub.slice(0, -1), true) ?? doc.contents)) {
        const parent = (depth === 1 ? doc.contents : doc.getIn(sub.slice(0, -1), true)) as { items?: { key: Node; value: Node }[] };
        const pair = parent.items?.find((item) => (item.key as unknown as { value?: unknown })?.value === sub[sub.length - 1]);
        if (pair?.key?.range) {
          const pos = lineCounter.linePos(pair.key.range[0]);
          return { line: pos.line, column: pos.col };
        }
      }
      const pos = lineCounter.linePos(node.range[0]);
      return { line: pos.line, column: pos.col };
    }
  }
  return {};
}

/**
 * Loads the main file and every setup; collects all issues across files so an
 * admin fixes them in one round, and throws ConfigError if there is any.
 */
export function loadConfig(mainFile: string): Config {
  const file = resolve(mainFile);
  const dir = dirname(file);
  const main = parseYamlFile(file, mainSchema);
  // Without the main file there is no setups_dir to look in: the setups/ next to a mistyped path are not this config's.
  if (main.unreadable) throw new ConfigError(main.issues, 'unreadable');
  // An invalid main file does not stop the setups from being checked: every problem is listed in one round.
  const setupsDir = resolve(dir, main.value?.setups_dir ?? rawField(main.raw, 'setups_dir') ?? 'setups');
  const issues: ConfigIssue[] = [...main.issues];
  const names = setupFileNames(file, setupsDir, issues);
  const { setups, owners, pathOf, refs } = loadSetups(setupsDir, names, issues);
  if (names.length === 0 && issues.length === 0) {
    issues.push({ file: displayPath(file), field: 'setups_dir', message: `no setup files (*.yaml) in ${displayPath(setupsDir)}: no sender could ever be accepted` });
  }
  const { index } = createSenderIndex(setups);
  issues.push(...senderConflicts(owners, pathOf));
  // Checks across files run on whatever could be read: a type error here does not hide an undeclared group there.
  const declared = declaredOf(main.value, main.raw);
  issues.push(...undeclaredPurposes(refs, declared, displayPath(file), lineOf));
  issues.push(...undeclaredGroups(refs, declared, displayPath(file), lineOf));
  const users = smtpAuthUsers(setups, issues);
  const tls = main.value ? readTls(main.value.smtp, file, issues) : undefined;
  if (main.value && users.size > 0 && !main.value.smtp.tls && main.value.smtp.require_tls) {
    issues.push({
      file: displayPath(file),
      ...lineOf(file, ['smtp']),
      field: 'smtp.tls',
      message: `setup(s) ${[...new Set([...users.values()].map((u) => u.setup.id))].join(', ')} use smtp_auth, which needs STARTTLS: set smtp.tls (cert and key), or require_tls: false on a trusted network`,
    });
  }
  const automationsDir = main.value?.automations_dir ?? rawField(main.raw, 'automations_dir') ?? 'automations';
  const loaded = loadAutomations(resolve(dir, automationsDir), {
    declared, setupIds: refs.map((r) => r.id), shown: displayPath, parse: parseYamlFile, lineOf, explicit: rawField(main.raw, 'automations_dir') !== undefined, mainFile: displayPath(file),
  });
  issues.push(...loaded.issues);
  if (!main.value || issues.length > 0) throw new ConfigError(issues);

  const http = main.value.http.listen;
  const storage = storageOf(main.value.storage, dir);
  return deepFreeze({
    file,
    main: main.value,
    setups,
    automations: loaded.automations,
    senders: index,
    storagePath: storage.type === 'sqlite' ? storage.path : '',
    storage,
    runtime: runtimeDirOf(main.value.runtime_dir, storage, file),
    publicUrl: (main.value.http.public_url ?? `http://${http.host.includes(':') ? `[${http.host}]` : http.host}:${http.port}`).replace(/\/$/, ''),
    tls,
    users,
  });
}

/** The *.yaml files of setups_dir, sorted; an unreadable directory is an issue (and no setups). */
function setupFileNames(file: string, setupsDir: string, issues: ConfigIssue[]): string[] {
  try {
    if (!statSync(setupsDir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    return readdirSync(setupsDir)
      .filter((name) => /\.ya?ml$/i.test(name))
      .sort();
  } catch (error) {
    issues.push({ file: displayPath(file), field: 'setups_dir', message: `cannot read ${displayPath(setupsDir)}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` });
    return [];
  }
}

/** Every setup file parsed; an invalid one still lends its readable senders, groups and purpose to the checks across files. */
function loadSetups(
  setupsDir: string,
  names: readonly string[],
  issues: ConfigIssue[],
): { setups: Setup[]; owners: SenderOwner[]; pathOf: Map<SenderOwner, string>; refs: SetupRefs[] } {
  const setups: Setup[] = [];
  const byId = new Map<string, Setup>();
  const pathOf = new Map<SenderOwner, string>();
  const owners: SenderOwner[] = [];
  const refs: SetupRefs[] = [];
  for (const name of names) {
    const setupFile = join(setupsDir, name);
    const parsed = parseYamlFile(setupFile, setupSchema);
    issues.push(...parsed.issues);
    if (!parsed.value) {
      const partial = readableSenders(parsed.raw, displayPath(setupFile), name);
      pathOf.set(partial, setupFile);
      owners.push(partial);
      refs.push(setupRefsOf(parsed.raw, name.replace(/\.ya?ml$/i, ''), displayPath(setupFile), setupFile));
      continue;
    }
    const setup: Setup = { ...parsed.value, file: displayPath(setupFile) };
    refs.push({ id: setup.id, file: setup.file, path: setupFile, groups: setup.groups, purpose: setup.purpose });
    const twin = byId.get(setup.id);
    if (twin) {
      issues.push({ file: setup.file, field: 'id', message: `setup id "${setup.id}" is also used by ${twin.file}` });
      continue;
    }
    byId.set(setup.id, setup);
    pathOf.set(setup, setupFile);
    setups.push(setup);
    owners.push(setup);
  }
  return { setups, owners, pathOf, refs };
}

function senderConflicts(owners: readonly SenderOwner[], pathOf: ReadonlyMap<SenderOwner, string>): ConfigIssue[] {
  return findSenderConflicts(owners).map((conflict) => ({
    file: conflict.second.file,
    ...lineOf(pathOf.get(conflict.second) as string, ['senders', conflict.index]),
    field: 'senders',
    message: `sender "${conflict.pattern}" is claimed by setup "${conflict.first.id}" (${conflict.first.file}) and setup "${conflict.second.id}" (${conflict.second.file})`,
  }));
}

/** SMTP AUTH users across setups: a user name belongs to one setup. */
function smtpAuthUsers(setups: readonly Setup[], issues: ConfigIssue[]): Config['users'] {
  const users = new Map<string, { setup: Setup; passwordHash: string }>();
  for (const setup of setups) {
    for (const user of setup.authorize.smtp_auth ?? []) {
      const twin = users.get(user.user);
      if (twin) issues.push({ file: setup.file, field: 'authorize.smtp_auth', message: `user "${user.user}" is also a user of setup "${twin.setup.id}" (${twin.setup.file})` });
      else users.set(user.user, { setup, passwordHash: user.password_hash as string });
    }
  }
  return users;
}

/** smtp.tls's certificate and key, read now so a missing file is a config error, not a failed handshake later. */
function readTls(smtp: MainConfig['smtp'], file: string, issues: ConfigIssue[]): Config['tls'] {
  if (!smtp.tls) return undefined;
  const paths = smtp.tls;
  const read = (field: 'cert' | 'key'): Buffer | undefined => {
    const path = resolve(dirname(file), paths[field]);
    try {
      return readConfigFile(path);
    } catch (error) {
      const why = error instanceof ConfigFileError && error.errno === undefined ? `${displayPath(path)} ${error.message}` : `cannot read ${displayPath(path)}: ${error instanceof ConfigFileError ? error.errno : String(error)}`;
      issues.push({ file: displayPath(file), ...lineOf(file, ['smtp', 'tls', field]), field: `smtp.tls.${field}`, message: why });
      return undefined;
    }
  };
  const cert = read('cert');
  const key = read('key');
  return cert && key ? { cert, key } : undefined;
}

function storageOf(declared: MainConfig['storage'], dir: string): StorageConfig {
  return declared.type === 'postgres'
    ? { type: 'postgres', url: declared.url, pool: declared.pool, retentionMs: declared.retention }
    : { type: 'sqlite', path: resolve(dir, declared.path), bookkeepingDelayMs: declared.bookkeeping_delay, retentionMs: declared.retention };
}

/**
 * The runtime directory: the config's runtime_dir, else systemd's $RUNTIME_DIRECTORY (the unit's
 * RuntimeDirectory=; the first when it lists several), else next to the SQLite ledger, else next
 * to the config file. Under the unit the config directory is read-only (ProtectSystem=strict,
 * 0750 root:mail2sms), so a PostgreSQL daemon needs one of the first two.
 */
function runtimeDirOf(declared: string | undefined, storage: StorageConfig, file: string): RuntimeDir {
  if (declared !== undefined) return { dir: resolve(dirname(file), declared), from: 'runtime_dir' };
  const systemd = process.env.RUNTIME_DIRECTORY?.split(':')[0];
  if (systemd) return { dir: resolve(systemd), from: 'RUNTIME_DIRECTORY' };
  if (storage.type === 'sqlite') return { dir: dirname(storage.path), from: 'storage.path' };
  return { dir: dirname(file), from: 'config file' };
}

function rawField(raw: unknown, key: string): string | undefined {
  const value = raw && typeof raw === 'object' ? (raw as Record<string, unknown>)[key] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** The senders that can be read from a setup that failed validation, so sender conflicts are reported with the other errors. */
function readableSenders(raw: unknown, file: string, name: string): SenderOwner {
  const list = raw && typeof raw === 'object' ? (raw as Record<string, unknown>).senders : undefined;
  const item = setupSchema.shape.senders.element;
  const senders = (Array.isArray(list) ? list : []).map((value) => {
    const parsed = item.safeParse(value);
    return parsed.success ? parsed.data : undefined;
  });
  return { id: rawField(raw, 'id') ?? name, file, senders };
}

/** A loaded config as plain data (no sender index, whose methods a worker thread cannot send). */
export type ConfigData = Omit<Config, 'senders'>;

export function configData(config: Config): ConfigData {
  const { senders: _senders, ...data } = config;
  return data;
}

/** A config back from plain data (as a worker thread sends it): the sender index rebuilt, certificates as Buffers, frozen. */
export function configFromData(data: ConfigData): Config {
  const tls = data.tls ? { cert: Buffer.from(data.tls.cert), key: Buffer.from(data.tls.key) } : undefined;
  return deepFreeze({ ...data, tls, senders: createSenderIndex(data.setups).index });
}

/** The line of a field in a YAML file, for checks made after parsing. */
export function lineOf(file: string, path: (string | number)[]): { line?: number; column?: number } {
  try {
    const lineCounter = new LineCounter();
    const doc = parseDocument(readConfigFile(file).toString('utf8'), { lineCounter });
    return locate(doc, path, lineCounter);
  } catch {
    return {};
  }
}

function deepFreeze<T>(value: T): T {
  // Buffers (certificates) and Maps cannot be frozen element-wise; they are never handed out for writing.
  if (value && typeof value === 'object' && !Object.isFrozen(value) && !ArrayBuffer.isView(value) && !(value instanceof Map)) {
    Object.freeze(value);
    for (const child of Object.values(value as object)) deepFreeze(child);
  }
  return value;
}
