/*
 * Email → SMS text: the words that matter, in as few segments as they need.
 * A pure function of the parsed email and the setup's text policy.
 */
import { gsm7PrefixLength, isGsm7, measureSms, segmentsWithTail, walkPrefixes, type PrefixWalks, type SmsMeasure } from './encoding.js';
import { htmlToText } from './html.js';
import { sanitiseText } from './sanitise.js';
import { hasStopClause } from './stop-clause.js';
import { stripNonMessage, type CutMarker, type RemovedBlock } from './strip.js';
import { transliterate } from './transliterate.js';
import { isSpace, normaliseWhitespace } from './whitespace.js';

export { normaliseWhitespace };

export type { CutMarker, RemovedBlock };

export interface EmailContent {
  subject: string | undefined;
  /** The text/plain content, if the mail has any. */
  text: string | undefined;
  html: string | undefined;
  /** `html` already converted to text (off the SMTP event loop, by the parse workers). */
  htmlText?: string;
}

export interface TextPolicy {
  source: 'body' | 'subject' | 'subject+body';
  separator: string;
  cutMarkers: readonly CutMarker[];
  transliterate: boolean;
  maxSegments: number;
  onOverflow: 'reject' | 'truncate';
  /** Text that must always be appended and fit the budget (after a line break). */
  suffix: string;
  /**
   * The STOP clause of marketing setups: `text` is appended (after a line
   * break, after any suffix) unless the body already contains one of the
   * `detect` phrases. It counts against maxSegments and is never truncated;
   * the body is. Transliterated like the body when `transliterate` is on.
   */
  stopClause?: StopClause;
}

export interface StopClause {
  text: string;
  detect: readonly string[];
}

export const DEFAULT_TEXT_POLICY: TextPolicy = {
  source: 'body',
  separator: '\n',
  cutMarkers: [],
  transliterate: true,
  maxSegments: 3,
  onOverflow: 'reject',
  suffix: '',
};

export type TextWarning = 'stripping_left_nothing' | 'truncated' | 'html_converted';

export type SmsText =
  | {
      ok: true;
      text: string;
      measure: SmsMeasure;
      warnings: TextWarning[];
      stopClauseAppended: boolean;
      /** The blocks stripping took out of the body (quote header, quoted text, signature, footer, disclaimer), for `explain --why`. */
      removed: RemovedBlock[];
    }
  | { ok: false; reason: 'no_text' }
  | { ok: false; reason: 'too_long'; segments: number; maxSegments: number };

function bodyOf(content: EmailContent, policy: TextPolicy, warnings: TextWarning[], removed: RemovedBlock[]): string {
  let body = content.text ?? '';
  if (!body.trim() && content.html) {
    body = content.htmlText ?? htmlToText(content.html);
    warnings.push('html_converted');
  }
  const stripped = stripNonMessage(body.replace(/\r\n?/g, '\n'), policy.cutMarkers);
  if (stripped.fellBack) warnings.push('stripping_left_nothing');
  removed.push(...(stripped.removed ?? []));
  return stripped.text;
}

export type ExtractedText = { ok: true; text: string; warnings: TextWarning[]; removed: RemovedBlock[] } | { ok: false; reason: 'no_text' };

/** The person's words: source, body, stripping, whitespace, transliteration; before the STOP clause and the length rules. */
export function extractSmsText(content: EmailContent, policy: TextPolicy = DEFAULT_TEXT_POLICY): ExtractedText {
  const warnings: TextWarning[] = [];
  const removed: RemovedBlock[] = [];
  const subject = content.subject ?? '';
  const raw =
    policy.source === 'subject'
      ? subject
      : policy.source === 'subject+body'
        ? [normaliseWhitespace(subject), normaliseWhitespace(bodyOf(content, policy, warnings, removed))].filter(Boolean).join(policy.separator)
        : bodyOf(content, policy, warnings, removed);
  const clean = sanitiseText(raw);
  const text = normaliseWhitespace(policy.transliterate ? transliterate(clean) : clean.replace(/\u00a0/g, ' '));
  return text ? { ok: true, text, warnings, removed } : { ok: false, reason: 'no_text' };
}

export function buildSmsText(content: EmailContent, policy: TextPolicy = DEFAULT_TEXT_POLICY): SmsText {
  const extracted = extractSmsText(content, policy);
  return extracted.ok ? finishSmsText(extracted.text, policy, extracted.warnings, extracted.removed) : extracted;
}

/** The STOP clause and the length rules (max_segments, on_overflow) on extracted text: per mail, or per recipient after merge. */
export function finishSmsText(body: string, policy: TextPolicy, warnings: readonly TextWarning[] = [], removed: readonly RemovedBlock[] = []): SmsText {
  let text = body;
  const notes = [...warnings];
  if (!text) return { ok: false, reason: 'no_text' };
  const clause = policy.stopClause;
  const clauseText = clause ? `\n${policy.transliterate ? transliterate(clause.text) : clause.text}` : '';
  const fixed = policy.suffix ? `\n${policy.suffix}` : '';
  let append = clause && !hasStopClause(text, clause.detect);
  let tail = append ? fixed + clauseText : fixed;
  let measure = measureSms(text + tail);
  if (measure.segments > policy.maxSegments) {
    if (policy.onOverflow === 'reject') return { ok: false, reason: 'too_long', segments: measure.segments, maxSegments: policy.maxSegments };
    let cut = truncateToSegments(text, policy.maxSegments, tail);
    // The sender's own clause may be what got cut off: then ours goes in, and the body is cut again to make room.
    if (clause && !append && !hasStopClause(cut, clause.detect)) {
      append = true;
      tail = fixed + clauseText;
      cut = truncateToSegments(text, policy.maxSegments, tail);
    }
    text = cut;
    notes.push('truncated');
    measure = measureSms(text + tail);
    // Only when the appended text alone (with "...") is over the budget: nothing of the body can make it fit.
    if (measure.segments > policy.maxSegments) return { ok: false, reason: 'too_long', segments: measure.segments, maxSegments: policy.maxSegments };
  }
  return { ok: true, text: text + tail, measure, warnings: notes, stopClauseAppended: append === true, removed: [...removed] };
}

const ELLIPSIS = '...'; // three dots: the one-character ellipsis is not GSM-7

/**
 * The longest start of `text` that, cut after a whole word and ending in "...",
 * fits `maxSegments` together with `suffix`. Falls back to a cut between
 * characters (never inside a surrogate pair) when no word boundary fits.
 * One walk over the text measures every candidate cut; each try then walks
 * only the "..." and the suffix.
 */
export function truncateToSegments(input: string, maxSegments: number, suffix = ''): string {
  // Whatever fits has at most 160 UTF-16 units per segment: look no further (and never end on half a surrogate pair).
  let text = input.slice(0, maxSegments * 160 + 1);
  if (/[\ud800-\udbff]$/.test(text)) text = text.slice(0, -1);
  const tail = ELLIPSIS + suffix;
  const ends = wordCutEnds(text);
  const fitsWord = prefixFits(text, ends, tail, maxSegments);
  // Segment count only grows with the prefix, so search the cuts.
  let lo = 0;
  let hi = ends.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (fitsWord(mid)) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (best >= 0) return text.slice(0, ends[best]) + ELLIPSIS;
  const chars = characterEnds(text);
  const fitsChars = prefixFits(text, chars, tail, maxSegments);
  let low = 0;
  let high = chars.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (fitsChars(mid)) low = mid;
    else high = mid - 1;
  }
  return text.slice(0, chars[low]) + ELLIPSIS;
}

/**
 * Whether prefix k (text up to ends[k]) + tail fits: GSM-7 while both are, else
 * UCS-2, as measureSms would encode the whole. The cuts before the first
 * non-GSM character are walked as GSM-7, the rest as UCS-2: one walk for
 * the usual all-GSM or all-UCS-2 text.
 */
function prefixFits(text: string, ends: readonly number[], tail: string, maxSegments: number): (k: number) => boolean {
  const firstUcs = gsm7PrefixLength(text);
  let split = 0;
  if (isGsm7(tail)) while (split < ends.length && (ends[split] as number) <= firstUcs) split++;
  const gsm = split > 0 ? walkPrefixes(text, ends.slice(0, split), true) : undefined;
  const ucs = split < ends.length ? walkPrefixes(text, ends.slice(split), false) : undefined;
  return (k) => (k < split ? segmentsWithTail(gsm as PrefixWalks, k, tail) : segmentsWithTail(ucs as PrefixWalks, k - split, tail)) <= maxSegments;
}

const CUT_PUNCTUATION = new Set([0x2e, 0x2c, 0x3b, 0x3a, 0x21, 0x3f, 0x2d]); // . , ; : ! ? -

/** For each word boundary (a run of spaces after some text), where the cut ends once trailing spaces and punctuation are dropped. */
function wordCutEnds(text: string): number[] {
  const ends: number[] = [];
  for (let i = 1; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!isSpace(code) || isSpace(text.charCodeAt(i - 1))) continue;
    let end = i;
    while (end > 0 && (isSpace(text.charCodeAt(end - 1)) || CUT_PUNCTUATION.has(text.charCodeAt(end - 1)))) end--;
    ends.push(end);
  }
  return ends;
}

/** The UTF-16 index after each whole character (0 first): a cut never splits a surrogate pair. */
function characterEnds(text: string): number[] {
  const ends = [0];
  for (let i = 0; i < text.length; ) {
    const code = text.charCodeAt(i);
    const low = text.charCodeAt(i + 1);
    i += code >= 0xd800 && code <= 0xdbff && low >= 0xdc00 && low <= 0xdfff ? 2 : 1;
    ends.push(i);
  }
  return ends;
}
