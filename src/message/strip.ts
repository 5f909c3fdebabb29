/*
 * What a person would not have typed into an SMS: the quoted thread of a
 * reply, its header, the signature, the "Sent from my iPhone" footer, a
 * mailing list's footer, a disclaimer. Every line gets a class; the person's
 * lines are kept wherever they stand (above, between or below the quote), and
 * each removed block is reported with its class so `explain --why` can show it.
 * The words come from reply-vocabulary.ts, one table per language.
 */
import { LIST_FOOTERS, REPLY_VOCABULARY, type LanguageVocabulary } from './reply-vocabulary.js';

export type CutMarker = { kind: 'text'; text: string } | { kind: 'regex'; regex: RegExp };

export type RemovedClass = 'quote_header' | 'quoted' | 'signature' | 'footer' | 'disclaimer';
type LineClass = 'text' | RemovedClass;

export interface RemovedBlock {
  class: RemovedClass;
  /** First and last line (1-based, inclusive) of the block in the body as stripped. */
  lines: [number, number];
  text: string;
}

export interface Stripped {
  text: string;
  /** Stripping would have left nothing, so the text is the unstripped one. */
  fellBack: boolean;
  /** What was taken out, in order; absent when it fell back (nothing was taken out). */
  removed?: RemovedBlock[];
}

// ---------------------------------------------------------------- patterns, built once from the vocabulary

const languages = Object.values(REPLY_VOCABULARY);
const escape = (word: string) => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/ /g, '\\s+');
const alternation = (pick: (v: LanguageVocabulary) => readonly string[]) =>
  [...new Set(languages.flatMap(pick))]
    .sort((a, b) => b.length - a.length)
    .map(escape)
    .join('|');

const OPENER = new RegExp(`^[-\\s]*(?:${alternation((v) => v.openers)})(?=[\\s,])`, 'iu');
const VERBS = alternation((v) => v.verbs);
/** "… wrote:", "… wrote", "… wrote -----": the verb closes the header. */
const VERB_CLOSES = new RegExp(`(?<!\\p{L})(?:${VERBS})$`, 'iu');
const LONGEST_VERB = Math.max(...languages.flatMap((v) => v.verbs.map((verb) => verb.length)));
/** Tested on the line's last few characters only: it runs on every line, and a scan of the whole line for each verb was the cost of stripping. */
function endsWithVerb(line: string): boolean {
  let end = line.length;
  while (end > 0 && /[\s-]/.test(line[end - 1] as string)) end--;
  if (end > 0 && /[:：]/.test(line[end - 1] as string)) end--;
  while (end > 0 && /\s/.test(line[end - 1] as string)) end--;
  // The lookbehind sees at least one character before the longest verb.
  return VERB_CLOSES.test(line.slice(Math.max(0, end - LONGEST_VERB - 8), end));
}
/** "Op … schreef Name <addr>:", "Name kirjoitti 5.1.2026 klo 10.02:": the verb inside, a colon at the end. */
const VERB_INSIDE = new RegExp(`(?<!\\p{L})(?:${VERBS})(?!\\p{L}).*[:：]\\s*$`, 'iu');
const NUMERIC_DATE = /\d{1,4}[./-]\s?\d{1,2}[./-]\s?\d{2,4}/;
/** Gmail's "2014-03-20 8:48 GMT+01:00 Name <addr>:" has no verb at all. */
const DATE_THEN_ADDRESS = /^\d{4}[-/.]\s?\d{1,2}[-/.]\s?\d{1,2}\b.{0,120}<\s*[^<>\s]+@[^<>]*>\s*[:：]?$/u;
/**
 * Nor do Russian, Japanese and some webmail headers: "ср, 30 апр. 2025 г. в 15:19,
 * Name <addr>:", "11:00 AM, November 17, 2021, "Name" <addr>:": a time, then an
 * address in brackets closed by the colon that ends the line.
 */
const TIMED_ADDRESS_COLON = /(?<!\d)\d{1,2}[:.]\d{2}(?!\d).{0,160}<\s*[^<>\s]+@[^<>\s]+\s*>\s*[:：]$/u;
const GLUED_HEADER = new RegExp(`(?:-{2,}\\s*|\\s)(?=(?:${alternation((v) => v.openers)})\\s)`, 'giu');

const labelGroup = (pick: (l: LanguageVocabulary['labels']) => readonly string[]) => alternation((v) => pick(v.labels));
const LABEL_KINDS = {
  from: labelGroup((l) => l.from),
  date: labelGroup((l) => l.date),
  to: labelGroup((l) => l.to),
  subject: labelGroup((l) => l.subject),
  cc: labelGroup((l) => l.cc),
};
type LabelKind = keyof typeof LABEL_KINDS;
const LABEL_AT_START = Object.entries(LABEL_KINDS).map(([kind, words]) => ({ kind: kind as LabelKind, regex: new RegExp(`^\\s*\\*?(?:${words})\\s*\\*?\\s*[:：]`, 'iu') }));
const LABEL_INSIDE = new RegExp(`\\s\\*?(?:${LABEL_KINDS.from}|${LABEL_KINDS.to}|${LABEL_KINDS.subject}|${LABEL_KINDS.date})\\s?\\*?:`, 'iu');

const SEPARATOR = new RegExp(`^[\\s>]*[-_=*]{2,}\\s*(?:${alternation((v) => v.separators)})\\s*[-_=*]{2,}\\s*$`, 'iu');
const RULE = /^\s*[-_=*]{3,}\s*$/;
const FOOTER = new RegExp(`^(?:${alternation((v) => v.footers)})(?!\\p{L})`, 'iu');
const LIST_FOOTER = new RegExp(LIST_FOOTERS.map(escape).join('|'), 'iu');
const LEGAL_WORD = new RegExp(alternation((v) => v.legal ?? []), 'giu');
/** A confidentiality notice is long; a sentence of the person's that says "confidential" is not. */
const MIN_LEGAL_NOTICE = 100;
/**
 * "-Abhishek Kona": a name alone under the text, GitHub's short signature (a
 * dash and a space is a bullet, not a signature). "/Peter" and a closing with a
 * name ("Med venlig hilsen / Mette") stay: the sender signs the SMS (test/fixtures/mail/02, 24).
 */
const NAME_SIGNATURE = /^-\p{Lu}[\p{L}.'-]*(?:\s\p{Lu}[\p{L}.'-]*){0,3}$/u;

const MAX_HEADER = 300;
const MAX_FOOTER_WORDS = 8;
/** A quoted line this long that runs on unquoted was wrapped by a mail client after quoting. */
const WRAPPED_QUOTE = 60;

// ---------------------------------------------------------------- line tests

const isQuoted = (line: string) => /^\s*>/.test(line);
const isBlank = (line: string) => line.trim() === '';

function isQuoteHeader(candidate: string): boolean {
  const c = candidate.trim();
  if (c.length > MAX_HEADER) return false;
  const hasAddress = c.includes('@');
  if (hasAddress && (DATE_THEN_ADDRESS.test(c) || (/[:：]$/.test(c) && TIMED_ADDRESS_COLON.test(c)))) return true;
  const opened = OPENER.test(c);
  if (!hasAddress && !/\d/.test(c)) return false;
  if (opened || hasAddress) return endsWithVerb(c) || VERB_INSIDE.test(c);
  return NUMERIC_DATE.test(c) && VERB_INSIDE.test(c);
}

/** A header wrapped over lines starts like one: an opener, a date, a rule of dashes, or an address. */
const mayStartHeader = (line: string) => OPENER.test(line) || /^\s*[-\d]/.test(line) || /[<@]/.test(line);

const isFirstLevelQuote = (line: string | undefined) => line !== undefined && /^\s*>(?!\s*>)/.test(line);
/** Gmail can push the closing ">:" or "> wrote:" of an address onto a line of its own. */
const ADDRESS_CLOSE = new RegExp(`^\\s*>\\s*(?:(?:${VERBS})\\s*)?[:：]\\s*$`, 'iu');

function nextNonBlank(lines: readonly string[], from: number): number {
  let k = from;
  while (k < lines.length && isBlank(lines[k] as string)) k++;
  return k;
}

/**
 * "On Mon, someone wrote:" right above `>` lines: an attribution, whatever its
 * date or address (or none) says, is never the person's text.
 */
function isAttributionAt(lines: readonly string[], i: number): boolean {
  const line = lines[i] as string;
  return line.length <= MAX_HEADER && isFirstLevelQuote(lines[nextNonBlank(lines, i + 1)]) && endsWithVerb(line);
}

/**
 * The number of lines of the quote header starting at `i`, or 0: up to 3
 * lines, or 5 when a header that opened with a date was wrapped around a
 * blank line (Gmail's "On … Name", "", "<", "addr", "> wrote:").
 */
function quoteHeaderAt(lines: readonly string[], i: number): number {
  const first = lines[i] as string;
  if (isBlank(first) || isQuoted(first) || first.length > MAX_HEADER) return 0;
  if (isQuoteHeader(first) || isAttributionAt(lines, i)) return 1;
  if (!mayStartHeader(first)) return 0;
  const maxLines = OPENER.test(first) && /\d/.test(first) ? 5 : 3;
  let candidate = first;
  let blanks = 0;
  for (let n = 2; n <= maxLines; n++) {
    const next = lines[i + n - 1];
    if (next === undefined || (isQuoted(next) && !ADDRESS_CLOSE.test(next))) return 0;
    if (isBlank(next)) {
      if (maxLines === 3 || ++blanks > 1) return 0;
      continue;
    }
    candidate += ` ${next.trim()}`;
    if (candidate.length > MAX_HEADER) return 0;
    if (isQuoteHeader(candidate)) return n;
  }
  return 0;
}

function labelKind(line: string): LabelKind | undefined {
  return LABEL_AT_START.find((label) => label.regex.test(line))?.kind;
}

/** Outlook's "From: / Sent: / To: / Subject:" block (any order, wrapped values, or all on one line). */
function isHeaderBlockAt(lines: readonly string[], i: number, firstText: number): boolean {
  const line = lines[i] as string;
  const kind = labelKind(line);
  if (kind !== 'from' && kind !== 'date') return false;
  if (LABEL_INSIDE.test(line.replace(LABEL_AT_START.find((l) => l.kind === kind)?.regex ?? /^/, ''))) return true;
  const kinds = new Set<LabelKind>([kind]);
  for (let j = i + 1; j < lines.length && j <= i + 6 && !isBlank(lines[j] as string); j++) {
    const next = labelKind(lines[j] as string);
    if (next) kinds.add(next);
  }
  if (kinds.size >= 2) return true;
  // A lone "From: address" below the person's text, with nothing under it on the same paragraph.
  return kind === 'from' && i > firstText && line.includes('@') && isBlank(lines[i + 1] ?? '');
}

function isFooter(lines: readonly string[], i: number): boolean {
  const line = (lines[i] as string).trim();
  if (!FOOTER.test(line) || line.includes(',') || line.split(/\s+/).length > MAX_FOOTER_WORDS) return false;
  const next = lines[i + 1];
  return next === undefined || isBlank(next) || isQuoted(next) || RULE.test(next) || quoteHeaderAt(lines, i + 1) > 0 || labelKind(next) !== undefined;
}

/**
 * "Sent from my iPhone", "Get Outlook for iOS": a phone or mail app signs the
 * end of what the person typed; whatever comes below it is the mail answered.
 */
const DEVICE_FOOTER = /(?<!\p{L})(?:my|min|mijn|meinem|mon|mi|meu|mio|mojego|iPhone|iPad|Android|BlackBerry|Outlook)(?!\p{L})/iu;

/**
 * A company's legal notice starting at `i`: a paragraph below the person's
 * text, long, with two different legal words ("confidential" and "intended
 * recipient", "vertraulich" and "Empfänger"). A heading line ("Disclaimer")
 * belongs to the paragraph it opens.
 */
function isLegalNoticeAt(lines: readonly string[], i: number): boolean {
  let end = i;
  while (end < lines.length && !isBlank(lines[end] as string)) end++;
  const paragraph = lines.slice(i, end).join(' ');
  if (paragraph.length < MIN_LEGAL_NOTICE) return false;
  const words = new Set(Array.from(paragraph.matchAll(LEGAL_WORD), (m) => m[0].toLowerCase()));
  return words.size >= 2;
}

function matchesMarker(line: string, markers: readonly CutMarker[]): boolean {
  for (const marker of markers) {
    if (marker.kind === 'text' ? line.toLowerCase().includes(marker.text.toLowerCase()) : marker.regex.test(line)) return true;
  }
  return false;
}

// ---------------------------------------------------------------- classification

const FROM_INSIDE = new RegExp(`\\s(?=\\*?(?:${LABEL_KINDS.from})\\s*\\*?\\s*:)`, 'iu');

/** Where a quote header glued to the person's words starts ("reply On … wrote:", "text--- On … wrote:"), or -1. */
function gluedHeaderAt(line: string): number {
  if (line.length > MAX_HEADER || isQuoted(line) || OPENER.test(line) || /^\s*\d/.test(line) || !endsWithVerb(line)) return -1;
  for (const match of line.matchAll(GLUED_HEADER)) {
    if (match.index > 0 && line.slice(0, match.index).trim() !== '' && isQuoteHeader(line.slice(match.index).trimStart())) return match.index;
  }
  return -1;
}

/**
 * Puts a quote header glued to the person's words on a line of its own, and
 * a "From:" glued to the line above it (an HTML converter that ignored <hr>)
 * when the next line carries the block's next field. Line numbers of the
 * removed blocks count these split lines.
 */
export function splitGluedHeaders(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    let at = gluedHeaderAt(line);
    if (at < 0 && labelKind(line) === undefined && labelKind(lines[i + 1] ?? '') !== undefined) at = line.search(FROM_INSIDE);
    if (at > 0) out.push(line.slice(0, at).trimEnd(), line.slice(at).trimStart());
    else out.push(line);
  }
  return out;
}

/** From `from` on, `>` lines are quoted and the rest is the person's (inline or bottom answers); else all is quoted. */
function markAfterHeader(lines: readonly string[], classes: LineClass[], from: number): void {
  let k = from;
  while (k < lines.length && isBlank(lines[k] as string)) k++;
  const quotedBelow = k < lines.length && isQuoted(lines[k] as string);
  for (let j = from; j < lines.length; j++) {
    if (!quotedBelow || isQuoted(lines[j] as string)) classes[j] = 'quoted';
    else if (quotedBelow && isBlank(lines[j] as string)) classes[j] = 'text';
  }
}

function classifyQuotes(lines: readonly string[], classes: LineClass[]): void {
  const firstText = lines.findIndex((line) => !isBlank(line));
  for (let i = 0; i < lines.length; i++) {
    if (classes[i] !== 'text') continue;
    const line = lines[i] as string;
    const headerLines = quoteHeaderAt(lines, i);
    if (headerLines > 0) {
      for (let j = i; j < i + headerLines; j++) classes[j] = 'quote_header';
      markAfterHeader(lines, classes, i + headerLines);
      i += headerLines - 1;
      continue;
    }
    const separator = SEPARATOR.test(line);
    if (separator || isHeaderBlockAt(lines, i, firstText)) {
      if (i > 0 && RULE.test(lines[i - 1] as string)) classes[i - 1] = 'quote_header';
      // A header block runs to its first blank line; a separator is one line. What follows is the quoted mail.
      let end = i + 1;
      while (!separator && end < lines.length && !isBlank(lines[end] as string)) end++;
      for (let j = i; j < lines.length; j++) classes[j] = j < end ? 'quote_header' : 'quoted';
      break;
    }
  }
  markStrayQuotes(lines, classes);
}

/**
 * `>` lines with no header above them: quoted when the block has a first-level
 * `>` line (">>> x" alone is a prompt or an arrow the person typed), and an
 * unquoted line between two quoted ones is the wrapped end of a long quoted
 * line or of a link the client broke.
 */
function markStrayQuotes(lines: readonly string[], classes: LineClass[]): void {
  for (let i = 0; i < lines.length; ) {
    if (classes[i] !== 'text' || !isQuoted(lines[i] as string)) {
      i++;
      continue;
    }
    let end = i;
    while (end + 1 < lines.length && classes[end + 1] === 'text' && (isQuoted(lines[end + 1] as string) || isBlank(lines[end + 1] as string))) end++;
    const block = lines.slice(i, end + 1);
    if (block.some((line) => /^\s*>(?!\s*>)/.test(line))) for (let j = i; j <= end; j++) if (isQuoted(lines[j] as string)) classes[j] = 'quoted';
    i = end + 1;
  }
  for (let i = 1; i + 1 < lines.length; i++) {
    const above = lines[i - 1] as string;
    if (classes[i] === 'text' && !isBlank(lines[i] as string) && classes[i - 1] === 'quoted' && classes[i + 1] === 'quoted' && isQuoted(above) && isQuoted(lines[i + 1] as string) && (above.length >= WRAPPED_QUOTE || /[(<][^)>]*$/.test(above))) classes[i] = 'quoted';
  }
}

function classifyTail(lines: readonly string[], classes: LineClass[], markers: readonly CutMarker[]): void {
  const cutFrom = (start: number, cls: RemovedClass) => {
    for (let j = start; j < lines.length; j++) if (classes[j] === 'text') classes[j] = cls;
  };
  let textAbove = false;
  for (let i = 0; i < lines.length; i++) {
    if (classes[i] !== 'text') continue;
    const line = lines[i] as string;
    if (markers.length > 0 && matchesMarker(line.trim(), markers)) return cutFrom(i, 'disclaimer');
    const startsParagraph = i === 0 || isBlank(lines[i - 1] as string) || RULE.test(lines[i - 1] as string);
    if (textAbove && startsParagraph && !isBlank(line) && isLegalNoticeAt(lines, i)) return cutFrom(i > 0 && RULE.test(lines[i - 1] as string) ? i - 1 : i, 'disclaimer');
    if (!isBlank(line)) textAbove = true;
    if (line === '-- ' || line.trim() === '--') return cutFrom(i, 'signature');
    if (isFooter(lines, i)) {
      classes[i] = 'footer';
      if (DEVICE_FOOTER.test(line)) for (let j = i + 1; j < lines.length; j++) if (classes[j] === 'text' && !isBlank(lines[j] as string)) classes[j] = 'quoted';
    } else if (LIST_FOOTER.test(line)) markParagraph(lines, classes, i, 'footer');
  }
  const last = lastTextLine(lines, classes);
  if (last > 0 && NAME_SIGNATURE.test((lines[last] as string).trim()) && isBlank(lines[last - 1] as string)) classes[last] = 'signature';
}

function markParagraph(lines: readonly string[], classes: LineClass[], at: number, cls: RemovedClass): void {
  let start = at;
  while (start > 0 && !isBlank(lines[start - 1] as string) && classes[start - 1] === 'text' && (lines[start - 1] as string).trim() !== '--') start--;
  if (start > 0 && /^\s*(--|—|-)\s*$/.test(lines[start - 1] as string)) start--;
  for (let j = start; j < lines.length && !isBlank(lines[j] as string); j++) if (classes[j] === 'text' || j === at) classes[j] = cls;
}

function lastTextLine(lines: readonly string[], classes: readonly LineClass[]): number {
  for (let i = lines.length - 1; i >= 0; i--) if (classes[i] === 'text' && !isBlank(lines[i] as string)) return i;
  return -1;
}

/** Blank lines inside or after a removed block belong to it; the ones before the person's next line stay. */
function absorbBlankLines(lines: readonly string[], classes: LineClass[]): void {
  let previous: LineClass | undefined;
  for (let i = 0; i < lines.length; i++) {
    if (!isBlank(lines[i] as string)) {
      previous = classes[i];
      continue;
    }
    if (previous === undefined || previous === 'text') continue;
    let next = i + 1;
    while (next < lines.length && isBlank(lines[next] as string)) next++;
    if (next === lines.length || classes[next] !== 'text') classes[i] = previous;
  }
}

function removedBlocks(lines: readonly string[], classes: readonly LineClass[]): RemovedBlock[] {
  const blocks: RemovedBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const cls = classes[i] as LineClass;
    if (cls === 'text') continue;
    const last = blocks[blocks.length - 1];
    if (last && last.class === cls && last.lines[1] === i) {
      last.lines[1] = i + 1;
      last.text += `\n${lines[i] as string}`;
    } else blocks.push({ class: cls, lines: [i + 1, i + 1], text: lines[i] as string });
  }
  return blocks;
}

/** Each line's class, for the body split into lines as `stripReply` sees them. */
export function classifyLines(lines: readonly string[], markers: readonly CutMarker[] = []): LineClass[] {
  const classes: LineClass[] = lines.map(() => 'text');
  classifyQuotes(lines, classes);
  classifyTail(lines, classes, markers);
  absorbBlankLines(lines, classes);
  return classes;
}

/**
 * A mail that is a quote header over an unquoted body and nothing else (a
 * forward with no note, or an answer typed below the header): the body is what
 * there is to send, without the header.
 */
function keepBodyBelowHeader(lines: readonly string[], classes: LineClass[]): void {
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (classes[i] === 'quoted' && !isQuoted(line) && !RULE.test(line)) classes[i] = 'text';
  }
  absorbBlankLines(lines, classes);
}

const keptText = (lines: readonly string[], classes: readonly LineClass[]) => lines.filter((_, i) => classes[i] === 'text').join('\n');

export function stripNonMessage(text: string, markers: readonly CutMarker[] = []): Stripped {
  const lines = splitGluedHeaders(text.split('\n'));
  const classes = classifyLines(lines, markers);
  let result = keptText(lines, classes);
  if (result.trim() === '' && classes.includes('quote_header')) {
    keepBodyBelowHeader(lines, classes);
    result = keptText(lines, classes);
  }
  // Never an empty SMS: a mail that is nothing but a quote goes out as it came (and the log says so).
  if (result.trim() === '') return { text, fellBack: text.trim() !== '' };
  return { text: result, fellBack: false, removed: removedBlocks(lines, classes) };
}
