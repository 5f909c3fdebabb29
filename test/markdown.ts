/*
 * Just enough Markdown reading for test/docs.test.ts: the prose lines (fenced
 * code blocks skipped), the links on them, the anchors GitHub gives headings,
 * and the repository paths written in inline code.
 */

interface ProseLine {
  text: string;
  line: number;
}

/** Lines outside ``` fences, numbered from 1. */
function proseLines(markdown: string): ProseLine[] {
  const lines: ProseLine[] = [];
  let fenced = false;
  markdown.split('\n').forEach((text, i) => {
    if (/^\s*(```|~~~)/.test(text)) fenced = !fenced;
    else if (!fenced) lines.push({ text, line: i + 1 });
  });
  return lines;
}

const CODE_SPAN = /(`+)(.+?)\1/g;

/** Every `[text](target)` and `![alt](target)` outside code. */
export function markdownLinks(markdown: string): { target: string; line: number }[] {
  const links: { target: string; line: number }[] = [];
  for (const { text, line } of proseLines(markdown)) {
    const prose = text.replace(CODE_SPAN, '');
    for (const match of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) links.push({ target: match[1] as string, line });
  }
  return links;
}

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as dashes. */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every heading's anchor, with GitHub's -1, -2 … for repeated ones. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text } of proseLines(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!heading) continue;
    const base = slug(heading[1] as string);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** A path as written: `src/x.ts`, `test/x.test.ts:12` (a line), `config/setups/*.yaml` (a glob). */
export interface CodePath {
  path: string;
  lineNumber: number | undefined;
  line: number;
}

/**
 * Words in inline code that name something in the repository: they start with
 * one of its top-level directories (or `dist/`, which the build makes from
 * them). Placeholders (`<file>`, `${NAME}`, `…`) are not paths.
 */
export function codePaths(markdown: string, topDirs: ReadonlySet<string>): CodePath[] {
  const paths: CodePath[] = [];
  for (const { text, line } of proseLines(markdown)) {
    for (const span of text.matchAll(CODE_SPAN)) {
      for (const raw of (span[2] as string).split(/\s+/)) {
        const word = raw.replace(/^[("'=]+/, '').replace(/[,;:.)"']+$/, '');
        const first = word.split('/')[0] as string;
        const built = first === 'dist' && word.endsWith('.js'); // compiled from a source the check looks for
        if (!word.includes('/') || !(topDirs.has(first) || built) || /[<>{}$…|\\[\]]/.test(word)) continue;
        const at = /^(.*?):(\d+)(?::\d+)?$/.exec(word);
        paths.push(at ? { path: at[1] as string, lineNumber: Number(at[2]), line } : { path: word, lineNumber: undefined, line });
      }
    }
  }
  return paths;
}

/** Table rows that do not follow a table row or a blank line: Markdown shows them as text, not as part of a table. */
export function strayTableRows(markdown: string): number[] {
  const stray: number[] = [];
  const lines = proseLines(markdown);
  lines.forEach(({ text, line }, i) => {
    const before = lines[i - 1];
    const follows = before !== undefined && before.line === line - 1 ? before.text : '';
    if (/^\s*\|/.test(text) && follows.trim() !== '' && !/^\s*\|/.test(follows)) stray.push(line);
  });
  return stray;
}
