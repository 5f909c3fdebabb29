/*
 * SMS encoding and segment count per 3GPP TS 23.038. The provider does the
 * final encoding; this count is what we record, bill and limit by.
 */

const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM7_EXTENSION = '\f^{}\\[~]|€';

const basic = new Set(Array.from(GSM7_BASIC));
const extension = new Set(Array.from(GSM7_EXTENSION));

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
  for (const ch of text) if (!basic.has(ch) && !extension.has(ch)) return false;
  return true;
}

/**
 * Segments: 160 septets / 70 UCS-2 units fit one SMS; longer messages split into
 * parts of 153 / 67 (the 6-byte concatenation header). An extension character's
 * escape pair and a surrogate pair are never split across parts.
 */
export function measureSms(text: string): SmsMeasure {
  const characters = Array.from(text);
  if (isGsm7(text)) {
    const sizes = characters.map((ch) => (extension.has(ch) ? 2 : 1));
    return { encoding: 'GSM-7', units: sum(sizes), characters: characters.length, segments: countSegments(sizes, 160, 153) };
  }
  const sizes = characters.map((ch) => ch.length);
  return { encoding: 'UCS-2', units: sum(sizes), characters: characters.length, segments: countSegments(sizes, 70, 67) };
}

function sum(values: number[]): number {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

function countSegments(sizes: number[], single: number, part: number): number {
  const total = sum(sizes);
  if (total === 0) return 0;
  if (total <= single) return 1;
  let segments = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > part) {
      segments++;
      used = 0;
    }
    used += size;
  }
  return segments;
}
