/*
 * The reply-stripping corpus (test/fixtures/replies/{seen,unseen}/*.txt): a
 * mail body from a public reply-parser test suite or written in its spirit,
 * with the fragments the person's text must keep and the quoted, signature or
 * footer fragments that must be gone. Shared by bench/text.ts and the tests.
 *
 *   # source: <repository and file the case comes from>
 *   # require: <fragment>        (any number)
 *   # forbid: <fragment>         (any number)
 *   ---
 *   <body>
 *
 * "seen" is what the rules were tuned on; "unseen" was written down before
 * the rules ran on it and is only measured.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type CorpusPart = 'seen' | 'unseen';

export interface ReplyCase {
  name: string;
  part: CorpusPart;
  source: string;
  require: string[];
  forbid: string[];
  body: string;
}

export function loadReplyCorpus(dir: string): ReplyCase[] {
  const cases: ReplyCase[] = [];
  for (const part of ['seen', 'unseen'] as const) {
    for (const file of readdirSync(join(dir, part)).filter((f) => f.endsWith('.txt')).sort()) {
      const raw = readFileSync(join(dir, part, file), 'utf8');
      const split = raw.indexOf('\n---\n');
      if (split < 0) throw new Error(`${part}/${file}: no "---" line between the header and the body`);
      const header = raw.slice(0, split).split('\n');
      const field = (key: string) => header.filter((l) => l.startsWith(`# ${key}: `)).map((l) => l.slice(key.length + 4));
      cases.push({ name: file.slice(0, -4), part, source: field('source')[0] ?? '', require: field('require'), forbid: field('forbid'), body: raw.slice(split + 5) });
    }
  }
  return cases;
}

/** The source a case comes from, by its file name's prefix ("talon-…", "gh-…", "disc-…"). */
export const sourceOf = (c: ReplyCase) => c.name.slice(0, Math.max(0, c.name.indexOf('-'))) || c.name;

const squash = (text: string) => text.replace(/\s+/g, ' ').trim();

/** The one scoring rule for every extractor: each required fragment is there and no forbidden one is. */
export function verdict(c: ReplyCase, output: string): { ok: boolean; missing: string[]; leftover: string[] } {
  const out = squash(output);
  const missing = c.require.filter((r) => !out.includes(squash(r)));
  const leftover = c.forbid.filter((f) => out.includes(squash(f)));
  return { ok: missing.length === 0 && leftover.length === 0, missing, leftover };
}
