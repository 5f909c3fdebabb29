/*
 * The whitespace rules of an SMS, in one pass over the text (this runs for
 * every mail and every merged recipient): line breaks become \n, zero-width
 * characters go, runs of spaces and tabs become one space, lines are trimmed,
 * blank lines collapse to one, and the text is trimmed.
 */

/** The characters String.prototype.trim removes (and /\s/ matches): JavaScript's WhiteSpace and LineTerminator. */
export function isSpace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0xa0) return false;
  return code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff;
}

/** Removed wherever they stand: zero-width space, non-joiner, joiner, word joiner, BOM and the soft hyphen. */
const isZeroWidth = (code: number) => code === 0x200b || code === 0x200c || code === 0x200d || code === 0x2060 || code === 0xfeff || code === 0x00ad;

/** Tab, vertical tab, form feed and space: a run of them is one space. */
const isBlank = (code: number) => code === 0x20 || code === 0x09 || code === 0x0b || code === 0x0c;

export function normaliseWhitespace(input: string): string {
  let out = '';
  let blankLineBefore = false;
  let line = '';
  let solid = 0; // line.length up to its last non-space character: what trimming the line's end keeps
  let inBlankRun = false;
  let from = -1; // start of the ordinary characters not yet copied into `line`
  const flush = (to: number) => {
    if (from >= 0) line += input.slice(from, to);
    from = -1;
  };
  const endLine = () => {
    const kept = line.slice(0, solid);
    if (kept.length > 0) {
      if (out.length > 0) out += blankLineBefore ? '\n\n' : '\n';
      out += kept;
      blankLineBefore = false;
    } else blankLineBefore = true;
    line = '';
    solid = 0;
    inBlankRun = false;
  };
  const ordinary = (i: number, space: boolean) => {
    if (from < 0) from = i;
    inBlankRun = false;
    if (!space) solid = line.length + (i + 1 - from);
  };
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i);
    if (code > 0x20 && code < 0x7f) ordinary(i, false);
    else if (code === 0x0a || code === 0x0d) {
      flush(i);
      if (code === 0x0d && input.charCodeAt(i + 1) === 0x0a) i++;
      endLine();
    } else if (isBlank(code)) {
      if (inBlankRun) flush(i); // the rest of a run is dropped
      else if (code === 0x20 && from >= 0) inBlankRun = true; // the run's one space: it stays in the text being copied
      else {
        flush(i);
        if (line.length > 0) line += ' ';
        inBlankRun = true;
      }
    } else if (isZeroWidth(code)) flush(i); // transparent: it neither ends a run of blanks nor starts text
    else if (!isSpace(code)) ordinary(i, false);
    // Other spaces (no-break space, U+2028…) stay inside a line and are trimmed at its ends.
    else if (line.length > 0 || from >= 0) ordinary(i, true);
  }
  flush(input.length);
  endLine();
  return out;
}
