/*
 * Typography that would switch a whole SMS to UCS-2 (halving its capacity) for
 * no meaning: curly quotes, dashes, ellipsis, odd spaces. Letters are never
 * touched: æ ø å ä ö ü é are GSM-7; ł ş ğ and other scripts stay as they are.
 */
const MAP: Record<string, string> = {
  '\u2018': "'", // ‘
  '\u2019': "'", // ’
  '\u201a': "'", // ‚
  '\u201b': "'", // ‛
  '\u2032': "'", // ′
  '`': "'",
  '\u00b4': "'", // ´
  '\u201c': '"', // “
  '\u201d': '"', // ”
  '\u201e': '"', // „
  '\u201f': '"', // ‟
  '\u2033': '"', // ″
  '\u00ab': '"', // «
  '\u00bb': '"', // »
  '\u2010': '-', // ‐
  '\u2011': '-', // ‑
  '\u2012': '-', // ‒
  '\u2013': '-', // –
  '\u2014': '-', // —
  '\u2015': '-', // ―
  '\u2212': '-', // −
  '\u2026': '...', // …
  '\u2022': '-', // •
  '\u2043': '-', // ⁃
};

const SPACES = /[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/g;
const CHARS = new RegExp(`[${Object.keys(MAP).join('')}]`, 'g');

/** A middle dot is a bullet only at the start of a line (in Catalan "l·l" it is part of a word). */
const DOT_BULLET = /^(\s*)\u00b7\s*/gm;

export function transliterate(text: string): string {
  return text.replace(SPACES, ' ').replace(DOT_BULLET, '$1- ').replace(CHARS, (ch) => MAP[ch] as string);
}
