/*
 * The text rules as they were before they became one pass (src/message/
 * whitespace.ts, truncateToSegments in src/message/text.ts): five regex passes
 * for whitespace, and a full measure of every prefix truncation tries. The
 * tests check the new code gives the same answers; bench/text-rules.ts times both.
 */
import { measureSms } from '../src/message/encoding.js';

export function referenceWhitespace(input: string): string {
  return input
    .replace(/\r\n?/g, '\n')
    .replace(/[\u200b\u200c\u200d\u2060\ufeff\u00ad]/g, '')
    .replace(/[\t\f\v ]+/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

export function referenceTruncate(input: string, maxSegments: number, suffix = ''): string {
  let text = input.slice(0, maxSegments * 160 + 1);
  if (/[\ud800-\udbff]$/.test(text)) text = text.slice(0, -1);
  const fits = (candidate: string) => measureSms(candidate + suffix).segments <= maxSegments;
  const cut = (end: number) => text.slice(0, end).replace(/[\s.,;:!?-]+$/u, '') + '...';
  const boundaries: number[] = [];
  for (const match of text.matchAll(/\s+/g)) if (match.index > 0) boundaries.push(match.index);
  let lo = 0;
  let hi = boundaries.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (fits(cut(boundaries[mid] as number))) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (best >= 0) return cut(boundaries[best] as number);
  const chars = Array.from(text);
  let low = 0;
  let high = chars.length;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (fits(chars.slice(0, mid).join('') + '...')) low = mid;
    else high = mid - 1;
  }
  return chars.slice(0, low).join('') + '...';
}
