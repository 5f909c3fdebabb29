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
  for (let i = 0; i < text.length; i++) if (SEPTETS[text.charCodeAt(i)] === 0) return false;
  return true;
}

interface Walk {
  encoding: SmsEncoding;
  units: number;
  characters: number;
  /** UTF-16 index where each concatenated part starts (for a single SMS: [0]). */
  starts: number[];
}

/**
 * One pass over the text. 160 septets / 70 UCS-2 units fit one SMS; longer
 * messages split into parts of 153 / 67 (the 6-byte concatenation header). An
 * extension character's escape pair and a surrogate pair never split.
 */
function walk(text: string): Walk {
  const gsm = isGsm7(text);
  const single = gsm ? 160 : 70;
  const part = gsm ? 153 : 67;
  let units = 0;
  let characters = 0;
  let used = 0;
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const start = i;
    const code = text.charCodeAt(i);
    let size: number;
    if (gsm) size = SEPTETS[code] as number;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      size = next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
      if (size === 2) i++;
    } else size = 1;
    characters++;
    units += size;
    if (used + size > part) {
      starts.push(start);
      used = 0;
    }
    used += size;
  }
  return { encoding: gsm ? 'GSM-7' : 'UCS-2', units, characters, starts: units === 0 ? [] : units <= single ? [0] : starts };
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
