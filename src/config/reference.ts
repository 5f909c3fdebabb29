import { configJsonSchema, UNIT_KEY } from './json-schema.js';
import { isRestartOnly } from './restart-only.js';
import { automationSchema } from './automations.js';
import { mainSchema, setupSchema } from './schema.js';

/*
 * The configuration reference (docs/configuration-reference.md), rendered from
 * the JSON Schema of each config file, so every key is documented once: in its
 * schema's description (as postconf(5) is generated from Postfix's one source).
 * `npm run docs` writes it; test/docs.test.ts fails when the committed page
 * differs or a key has no description.
 */

/** A JSON Schema node, as z.toJSONSchema writes it. */
interface Node {
  type?: string | string[];
  description?: string;
  default?: unknown;
  const?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  properties?: Record<string, Node>;
  required?: string[];
  items?: Node;
  additionalProperties?: Node | boolean;
  propertyNames?: Node;
  anyOf?: Node[];
  oneOf?: Node[];
  [UNIT_KEY]?: string;
}

/** One documented key. `variant` names the `type:` it belongs to in a union (storage, provider). */
export interface KeyRow {
  path: string;
  type: string;
  default: string;
  description: string | undefined;
  variant?: string;
}

const RECORD_KEY = '<name>';

/** Every key of a config file's schema, depth first, in schema order. */
export function keyRows(schema: Node, prefix = ''): KeyRow[] {
  const rows: KeyRow[] = [];
  for (const [key, node] of Object.entries(schema.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const required = schema.required?.includes(key) ?? false;
    const variants = node.oneOf ?? [];
    if (variants.length > 0 && variants.every((v) => v.properties)) {
      rows.push(...unionRows(path, node, variants));
      continue;
    }
    rows.push({ path, type: typeOf(node), default: defaultOf(node, required), description: node.description });
    const inner = objectOf(node);
    if (inner) rows.push(...keyRows(inner.node, `${path}${inner.suffix}`));
  }
  return rows;
}

/** A discriminated union (`storage`, `provider`): the `type` key once, then each variant's keys. */
function unionRows(path: string, node: Node, variants: Node[]): KeyRow[] {
  const kinds = variants.map((v) => String(v.properties?.type?.const));
  const fallback = variants.find((v) => !v.required?.includes('type'))?.properties?.type?.const;
  const rows: KeyRow[] = [{ path, type: 'object', default: '–', description: node.description }];
  rows.push({
    path: `${path}.type`,
    type: kinds.map((kind) => `\`${kind}\``).join(' \\| '),
    default: fallback === undefined ? 'required' : `\`${String(fallback)}\``,
    description: variants.map((v, i) => `\`${kinds[i]}\`: ${v.properties?.type?.description ?? ''}`).join(' '),
  });
  const byKey = new Map<string, KeyRow>();
  variants.forEach((variant, i) => {
    const { type: _type, ...rest } = variant.properties ?? {};
    for (const row of keyRows({ ...variant, properties: rest }, path)) {
      const same = byKey.get(row.path);
      if (same && same.default === row.default && same.description === row.description) {
        same.variant = `${same.variant}, ${kinds[i]}`;
        continue;
      }
      const key = same ? `${row.path} ${kinds[i]}` : row.path;
      byKey.set(key, { ...row, variant: kinds[i] });
    }
  });
  return [...rows, ...byKey.values()];
}

/** The object a key holds (directly, in a list, as map values, or when it may be null), to list its keys. */
function objectOf(node: Node): { node: Node; suffix: string } | undefined {
  const plain = nonNull(node);
  if (plain.properties) return { node: plain, suffix: '' };
  if (plain.items) {
    const item = nonNull(plain.items);
    if (item.properties) return { node: item, suffix: '[]' };
  }
  if (plain.propertyNames && typeof plain.additionalProperties === 'object') {
    const value = nonNull(plain.additionalProperties);
    if (value.properties) return { node: value, suffix: `.${RECORD_KEY}` };
  }
  return undefined;
}

function nonNull(node: Node): Node {
  const options = (node.anyOf ?? []).filter((option) => option.type !== 'null');
  return options.length === 1 && options[0] ? { ...options[0], description: node.description } : node;
}

function typeOf(node: Node): string {
  const unit = node[UNIT_KEY];
  if (unit) return unit;
  if (node.const !== undefined) return `\`${String(node.const)}\``;
  if (node.enum) return node.enum.map((value) => `\`${String(value)}\``).join(' \\| ');
  const options = node.anyOf ?? node.oneOf;
  if (options) return [...new Set(options.map(typeOf))].join(' or ');
  const type = Array.isArray(node.type) ? node.type.join(' or ') : node.type;
  if (type === 'array') return node.items ? `list of ${typeOf(node.items)}` : 'list';
  if (type === 'object') return node.propertyNames ? 'map' : 'object';
  if (type === 'integer') return integerRange(node);
  return type ?? 'any';
}

function integerRange(node: Node): string {
  const max = node.maximum !== undefined && node.maximum < Number.MAX_SAFE_INTEGER ? node.maximum : undefined;
  if (node.minimum !== undefined && max !== undefined) return `integer ${node.minimum}–${max}`;
  if (node.minimum !== undefined) return `integer ≥ ${node.minimum}`;
  return 'integer';
}

function defaultOf(node: Node, required: boolean): string {
  const value = node.default;
  if (value === undefined) return required ? 'required' : '–';
  if (value !== null && typeof value === 'object' && Object.keys(value).length > 0 && !Array.isArray(value)) return '–';
  const text = typeof value === 'string' && !/^\s|\s$/.test(value) ? value : JSON.stringify(value);
  return `\`${text}\``;
}

/** Descriptions end up in one table cell: no line breaks or bare pipes, and `<name>` or `*.yaml` outside code shown as written. */
function cell(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, ' ').replace(/(?<!\\)\|/g, '\\|');
  return flat
    .split('`')
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/\*/g, '\\*')))
    .join('`');
}

function table(rows: KeyRow[], restart: (path: string) => boolean): string {
  const lines = ['| Key | Type | Default | Meaning |', '|---|---|---|---|'];
  for (const row of rows) {
    const variant = row.variant ? ` (\`type: ${row.variant}\`)` : '';
    const meaning = cell(row.description ?? '**(no description)**') + (restart(row.path) ? ' *Restart to change.*' : '');
    lines.push(`| \`${row.path}\`${variant} | ${row.type} | ${row.default} | ${meaning} |`);
  }
  return lines.join('\n');
}

/** One block of the main file: its description, then its keys (the block's own row is the description). */
function section(key: string, node: Node, required: boolean): string {
  const rows = keyRows({ properties: { [key]: node }, required: required ? [key] : [] }).filter((row) => row.path !== key);
  const allRestart = rows.length > 0 && rows.every((row) => isRestartOnly(row.path));
  const notes = [required ? 'Required.' : '', allRestart ? 'Every key here keeps its running value until a restart.' : ''].filter(Boolean).join(' ');
  const intro = `${cell(node.description ?? '')}${notes ? ` *${notes}*` : ''}`;
  return `### \`${key}\`\n\n${intro}\n\n${table(rows, (path) => !allRestart && isRestartOnly(path))}`;
}

const HEADER = `# Configuration reference

For admins and sysadmins looking up one key. Every key of the three kinds of
config file, with its type, its default and what it does. How the files fit
together (paths, durations, sizes, \`\${ENV}\` secrets, errors, reload) is in
[Configuration](configuration.md).

<!-- Generated by \`npm run docs\` from the schemas in src/config/ (their descriptions):
     edit those, not this file. test/docs.test.ts fails when the two differ. -->

Types: *duration* is \`500ms\`, \`30s\`, \`10m\`, \`24h\`, \`7d\`, \`1w\` or a sum such as
\`1h30m\` (\`off\` where the key allows it); *size* is \`1MB\`, \`512KB\` or a number
of bytes. Unknown keys are errors. *Restart to change* marks keys a reload
names and leaves at their running values until the daemon restarts.
`;

/** The whole page. */
export function renderConfigReference(): string {
  const main = configJsonSchema(mainSchema) as Node;
  const sections: string[] = [HEADER];
  sections.push('## The main file (`mail2sms.yaml`)\n\n`config/mail2sms.yaml` in a checkout, `/etc/mail2sms/mail2sms.yaml` installed. Relative paths are resolved against its directory.');
  const topLevel: Node = { ...main, properties: {} };
  for (const [key, node] of Object.entries(main.properties ?? {})) {
    if (objectOf(node) || node.oneOf) continue;
    (topLevel.properties as Record<string, Node>)[key] = node;
  }
  sections.push(`### Top level\n\n${table(keyRows(topLevel), (path) => isRestartOnly(path))}`);
  for (const [key, node] of Object.entries(main.properties ?? {})) {
    if (!(objectOf(node) || node.oneOf)) continue;
    sections.push(section(key, node, main.required?.includes(key) ?? false));
  }
  const setup = configJsonSchema(setupSchema) as Node;
  sections.push(`## A setup (\`setups/*.yaml\`)\n\nOne file per setup in \`setups_dir\`: who may send SMS, how they prove it, and the rules for their messages (see [Setups and rules](setups-and-rules.md)). Setups reload live.\n\n${table(keyRows(setup), () => false)}`);
  const automation = configJsonSchema(automationSchema) as Node;
  sections.push(`## An automation (\`automations/*.yaml\`)\n\nOne file per scheduled SMS in \`automations_dir\` (see [Automations](contacts-groups-automations.md#automations)). Automations reload live.\n\n${table(keyRows(automation), () => false)}`);
  return `${sections.join('\n\n')}\n`;
}

/** Keys whose schema says nothing about them (test/docs.test.ts requires a description on every key). */
export function undescribedKeys(): string[] {
  const files: [string, Node][] = [
    ['mail2sms.yaml', configJsonSchema(mainSchema) as Node],
    ['setup', configJsonSchema(setupSchema) as Node],
    ['automation', configJsonSchema(automationSchema) as Node],
  ];
  return files.flatMap(([file, schema]) => keyRows(schema).filter((row) => !row.description?.trim()).map((row) => `${file}: ${row.path}`));
}
