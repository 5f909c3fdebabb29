/*
 * Mail merge: `{{first_name}}` and `{{first_name | default: "there"}}` in the
 * SMS text, filled per recipient. A template is parsed once per mail; filling
 * it is one pass over its parts, so a value is inserted as text and never
 * read as a placeholder again ("{{x}}" in a value stays "{{x}}").
 */
import { transliterate } from './transliterate.js';

export type MergePart = { kind: 'text'; text: string } | { kind: 'field'; name: string; fallback: string | undefined; source: string };

export interface MergeTemplate {
  parts: readonly MergePart[];
  /** The distinct field names, in order of first use. */
  fields: readonly string[];
}

export type MergeParse = { ok: true; template: MergeTemplate | undefined } | { ok: false; problem: string };

const FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
/** `name`, optionally `| filter` or `| filter: "argument"` (or 'argument'). */
const PLACEHOLDER = /^\s*([^\s|]+)\s*(?:\|\s*([^\s:]+)\s*(?::\s*("(?:[^"\\]|\\.)*"|'[^']*'))?\s*)?$/;

/** Field names as the templates and the contact files spell them. */
export function isFieldName(name: string): boolean {
  return FIELD_NAME.test(name);
}

function unquote(argument: string): string {
  return argument.startsWith('"') ? argument.slice(1, -1).replace(/\\(.)/g, '$1') : argument.slice(1, -1);
}

function parsePlaceholder(inner: string, source: string): MergePart | string {
  const match = PLACEHOLDER.exec(inner);
  if (!match) return `${source} is not a merge field (write {{first_name}} or {{first_name | default: "there"}})`;
  const [, name = '', filter, argument] = match;
  if (!FIELD_NAME.test(name)) return `${source}: "${name}" is not a field name (letters, digits, _ and -)`;
  if (filter === undefined) return { kind: 'field', name, fallback: undefined, source };
  if (filter !== 'default') return `${source}: unknown filter "${filter}" (the only filter is default: "...")`;
  if (argument === undefined) return `${source}: the default filter needs a value, e.g. default: "there"`;
  return { kind: 'field', name, fallback: unquote(argument), source };
}

/**
 * The placeholders of a text. No `{{` at all: no template (the mail behaves as
 * it always did, stray `}}` included). Otherwise every `{{` needs its `}}` and
 * every `}}` its `{{`.
 */
export function parseMerge(text: string): MergeParse {
  if (!text.includes('{{')) return { ok: true, template: undefined };
  const parts: MergePart[] = [];
  const fields: string[] = [];
  let at = 0;
  for (;;) {
    const open = text.indexOf('{{', at);
    const literal = text.slice(at, open === -1 ? text.length : open);
    if (literal.includes('}}')) return { ok: false, problem: `unbalanced braces: "}}" without "{{" before it (near "${snippet(literal, literal.indexOf('}}'))}")` };
    if (literal) parts.push({ kind: 'text', text: literal });
    if (open === -1) break;
    const close = text.indexOf('}}', open + 2);
    const nextOpen = text.indexOf('{{', open + 2);
    if (close === -1 || (nextOpen !== -1 && nextOpen < close)) {
      return { ok: false, problem: `unbalanced braces: "{{" without "}}" (near "${snippet(text, open)}")` };
    }
    const source = text.slice(open, close + 2);
    const part = parsePlaceholder(text.slice(open + 2, close), source.replace(/\s+/g, ' '));
    if (typeof part === 'string') return { ok: false, problem: part };
    parts.push(part);
    if (part.kind === 'field' && !fields.includes(part.name)) fields.push(part.name);
    at = close + 2;
  }
  return { ok: true, template: { parts, fields } };
}

function snippet(text: string, index: number): string {
  return text.slice(Math.max(0, index - 10), index + 12).replace(/\s+/g, ' ');
}

export type MergeFill = { ok: true; text: string } | { ok: false; missing: string[] };

/**
 * The template filled from one recipient's fields. A value is one line of text
 * (line breaks become spaces), transliterated like the rest of the SMS when the
 * setup transliterates.
 */
export function fillMerge(template: MergeTemplate, value: (field: string) => string | undefined, options: { transliterate: boolean }): MergeFill {
  let text = '';
  let missing: string[] | undefined;
  for (const part of template.parts) {
    if (part.kind === 'text') {
      text += part.text;
      continue;
    }
    const given = value(part.name);
    const raw = given !== undefined && given.trim() !== '' ? given : part.fallback;
    if (raw === undefined) {
      (missing ??= []).includes(part.name) || missing.push(part.name);
      continue;
    }
    const line = raw.replace(/\s+/g, ' ').trim();
    text += options.transliterate ? transliterate(line) : line;
  }
  return missing ? { ok: false, missing } : { ok: true, text };
}
