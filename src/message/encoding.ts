/*
 * SMS encoding and segment count per 3GPP TS 23.038. The provider does the
 * final encoding; this count is what we record, bill and limit by.
 */

const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM7_EXTENSION = '\f^{}\\[~]|€';

/** Septets per BMP character: 1 (basic set), 2 (extension table, escaped), 0 (not GSM-7). All GSM-7 characters are in the BMP. */
const SEPTETS = new Uint8Array(0x10000);
for (const ch of GSM7_BASIC) SEPTETS[ch.charCodeAt(0)] = 1;
for (const ch of GSM7_EXTENSION) SEPTETS[ch.charCodeAt(0)] = 2;

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsMeasure {
  encoding: SmsEncoding;
  /** Septets for GSM-7 (extension characters count two), UTF-16 code units for UCS-2. */
  units: number;
  /** Characters as a person counts them (code points). */
  characters: number;
  segments: number;
}

export function isGsm7(text: string): boolean {
  return gsm7PrefixLength(text) === text.length;
}

/** How many UTF-16 units at the start of `text` are GSM-7 characters. */
export function gsm7PrefixLength(text: string): number {
  let i = 0;
  while (i < text.length && SEPTETS[text.charCodeAt(i)] !== 0) i++;
  return i;
}

/** How far a walk over a text has got: its units so far, the parts started, and the units in the last part. */
interface Cursor {
  units: number;
  characters: number;
  used: number;
  parts: number;
}

const newCursor = (): Cursor => ({ units: 0, characters: 0, used: 0, parts: 1 });

/**
 * Takes the character at `i` and returns the index after it. 160 septets / 70
 * UCS-2 units fit one SMS; longer messages split into parts of 153 / 67 (the
 * 6-byte concatenation header). An extension character's escape pair and a
 * surrogate pair never split: a character that does not fit starts a part.
 */
function take(c: Cursor, text: string, i: number, gsm: boolean, onPart?: (start: number) => void): number {
  const code = text.charCodeAt(i);
  let size = 1;
  let next = i + 1;
  if (gsm) size = SEPTETS[code] as number;
  else if (code >= 0xd800 && code <= 0xdbff && next < text.length) {
    const low = text.charCodeAt(next);
    if (low >= 0xdc00 && low <= 0xdfff) {
      size = 2;
      next++;
    }
  }
  c.characters++;
  c.units += size;
  if (c.used + size > (gsm ? 153 : 67)) {
    c.parts++;
    c.used = 0;
    onPart?.(i);
  }
  c.used += size;
  return next;
}

const segmentsOf = (c: Cursor, gsm: boolean) => (c.units === 0 ? 0 : c.units <= (gsm ? 160 : 70) ? 1 : c.parts);

interface Walk {
  encoding: SmsEncoding;
  units: number;
  characters: number;
  /** UTF-16 index where each concatenated part starts (for a single SMS: [0]). */
  starts: number[];
}

/** One pass over the text. */
function walk(text: string): Walk {
  const gsm = isGsm7(text);
  const c = newCursor();
  const starts = [0];
  const onPart = (start: number) => void starts.push(start);
  for (let i = 0; i < text.length; ) i = take(c, text, i, gsm, onPart);
  const segments = segmentsOf(c, gsm);
  return { encoding: gsm ? 'GSM-7' : 'UCS-2', units: c.units, characters: c.characters, starts: segments === 0 ? [] : segments === 1 ? [0] : starts };
}

/**
 * Where a walk over `text` stands at each of `ends` (ascending UTF-16 indexes
 * at character boundaries), taken in one pass. With them, the segments of
 * "prefix + tail" cost a walk over the tail only ({@link segmentsWithTail}):
 * truncation tries many prefixes of one text.
 */
export interface PrefixWalks {
  gsm: boolean;
  units: Int32Array;
  used: Int32Array;
  parts: Int32Array;
}

export function walkPrefixes(text: string, ends: ArrayLike<number>, gsm: boolean): PrefixWalks {
  const n = ends.length;
  const table: PrefixWalks = { gsm, units: new Int32Array(n), used: new Int32Array(n), parts: new Int32Array(n) };
  const c = newCursor();
  let k = 0;
  for (let i = 0; k < n; ) {
    while (k < n && (ends[k] as number) <= i) {
      table.units[k] = c.units;
      table.used[k] = c.used;
      table.parts[k] = c.parts;
      k++;
    }
    if (i >= text.length) break;
    i = take(c, text, i, gsm);
  }
  return table;
}

/** measureSms(prefix k + tail).segments, when the whole is encoded as the table says. */
export function segmentsWithTail(table: PrefixWalks, k: number, tail: string): number {
  const c: Cursor = { units: table.units[k] as number, characters: 0, used: table.used[k] as number, parts: table.parts[k] as number };
  for (let i = 0; i < tail.length; ) i = take(c, tail, i, table.gsm);
  return segmentsOf(c, table.gsm);
}

export function measureSms(text: string): SmsMeasure {
  const { encoding, units, characters, starts } = walk(text);
  return { encoding, units, characters, segments: starts.length };
}

/** The parts a concatenated SMS is sent as (what the segment count counts). */
export function splitSms(text: string): string[] {
  const { starts } = walk(text);
  return starts.map((start, i) => text.slice(start, starts[i + 1] ?? text.length));
}
