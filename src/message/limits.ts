/*
 * Limits checked before any real parse, by a linear scan: a mail built to make
 * the MIME parser or the HTML converter work without end (thousands of parts,
 * nesting thousands deep) is refused with the limit it broke instead.
 */

export interface MimeLimits {
  maxParts: number;
  maxDepth: number;
}

export interface HtmlLimits {
  maxDepth: number;
  maxSize: number;
}

const BOUNDARY = /boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^;\s"]{1,200}))/gi;

/** The first MIME limit the raw mail breaks, as the reason to give, or undefined. */
export function mimeLimitBroken(raw: Buffer, limits: MimeLimits): string | undefined {
  const text = raw.toString('latin1');
  const boundaries = new Set<string>();
  for (const match of text.matchAll(BOUNDARY)) boundaries.add((match[1] ?? match[2]) as string);
  if (boundaries.size === 0) return undefined;
  const open: string[] = [];
  let parts = 1;
  let depth = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('--')) continue;
    const body = line.trimEnd().slice(2);
    const closing = body.endsWith('--') && boundaries.has(body.slice(0, -2));
    const name = closing ? body.slice(0, -2) : body;
    if (!boundaries.has(name)) continue;
    const at = open.lastIndexOf(name);
    if (closing) {
      if (at !== -1) open.length = at;
      continue;
    }
    parts++;
    if (at === -1) open.push(name);
    else open.length = at + 1;
    depth = Math.max(depth, open.length);
    if (parts > limits.maxParts) return `more than ${limits.maxParts} MIME parts`;
    if (depth > limits.maxDepth) return `MIME parts nested more than ${limits.maxDepth} deep`;
  }
  return undefined;
}

// Elements that never have content, or whose end tag may be left out: they do not nest.
const NOT_NESTING = new Set(
  'area base br col embed hr img input link meta param source track wbr p li td th tr dt dd option optgroup thead tbody tfoot colgroup caption rb rt rp html head body'.split(' '),
);
const TAG = /<(\/?)([a-zA-Z][a-zA-Z0-9:-]*)[^>]*?(\/?)>/g;

/** The first HTML limit broken (size, or element nesting as an HTML parser would build it), or undefined. */
export function htmlLimitBroken(html: string, limits: HtmlLimits): string | undefined {
  if (html.length > limits.maxSize) return `HTML larger than ${limits.maxSize} characters`;
  let depth = 0;
  for (const match of html.matchAll(TAG)) {
    const name = (match[2] as string).toLowerCase();
    if (NOT_NESTING.has(name) || match[3] === '/') continue;
    if (match[1] === '/') depth = Math.max(0, depth - 1);
    else if (++depth > limits.maxDepth) return `HTML elements nested more than ${limits.maxDepth} deep`;
  }
  return undefined;
}
