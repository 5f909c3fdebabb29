/*
 * Reply and signature stripping, side by side: mail2sms's extraction,
 * planer (the JavaScript port of Mailgun's talon) and email-reply-parser (the
 * port of GitHub's parser) on the same corpus, scored the same way (every
 * required fragment kept, no quoted/signature/footer fragment left).
 *
 *   npm run build && npm run bench:text [-- --verbose] [-- --rounds 200]
 *
 * Prints the score table for the tuned ("seen") and held-out ("unseen")
 * parts, and the time per mail of each extractor.
 */
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import EmailReplyParser from 'email-reply-parser';
import { stripNonMessage } from '../src/message/strip.js';
import { loadReplyCorpus, sourceOf, verdict, type CorpusPart, type ReplyCase } from './reply-corpus.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
const ROOT = resolve(HERE, '..', '..');

// planer is CommonJS without type declarations: only its plain-text entry is used.
const planer = createRequire(import.meta.url)('planer') as { extractFrom: (body: string, contentType: string) => string };

const { values: args } = parseArgs({ options: { verbose: { type: 'boolean', default: false }, rounds: { type: 'string', default: '200' } } });

type Extractor = { name: string; extract: (body: string) => string };
const replyParser = new EmailReplyParser();
const extractors: Extractor[] = [
  { name: 'mail2sms', extract: (body) => stripNonMessage(body).text },
  { name: 'planer 1.2.0 (talon)', extract: (body) => planer.extractFrom(body, 'text/plain') },
  { name: 'email-reply-parser 2.3.7 (GitHub)', extract: (body) => replyParser.read(body).getVisibleText() },
];

function score(extractor: Extractor, cases: ReplyCase[]): { passed: number; failures: string[] } {
  const failures: string[] = [];
  for (const c of cases) {
    let output: string;
    try {
      output = extractor.extract(c.body);
    } catch (error) {
      failures.push(`${c.part}/${c.name}: threw ${(error as Error).message}`);
      continue;
    }
    const v = verdict(c, output);
    if (!v.ok) failures.push(`${c.part}/${c.name}: ${[...v.missing.map((m) => `missing "${m}"`), ...v.leftover.map((l) => `left "${l}"`)].join(', ')}`);
  }
  return { passed: cases.length - failures.length, failures };
}

function microsecondsPerMail(extractor: Extractor, cases: ReplyCase[], rounds: number): number {
  for (const c of cases) extractor.extract(c.body); // warm-up
  const start = performance.now();
  for (let r = 0; r < rounds; r++) for (const c of cases) extractor.extract(c.body);
  return ((performance.now() - start) * 1000) / (rounds * cases.length);
}

const corpus = loadReplyCorpus(join(ROOT, 'test', 'fixtures', 'replies'));
const seen = corpus.filter((c) => c.part === 'seen');
const unseen = corpus.filter((c) => c.part === 'unseen');
const rounds = Number(args.rounds);
const pct = (n: number, of: number) => `${n}/${of} (${((100 * n) / of).toFixed(1)} %)`;

console.log(`Reply corpus: ${seen.length} seen (tuned on), ${unseen.length} unseen (held out), Node ${process.version}\n`);
console.log('| Extractor | Seen | Unseen | All | µs per mail |');
console.log('|---|---|---|---|---|');
for (const extractor of extractors) {
  const s = score(extractor, seen);
  const u = score(extractor, unseen);
  const us = microsecondsPerMail(extractor, corpus, rounds);
  console.log(`| ${extractor.name} | ${pct(s.passed, seen.length)} | ${pct(u.passed, unseen.length)} | ${pct(s.passed + u.passed, corpus.length)} | ${us.toFixed(1)} |`);
  if (args.verbose) for (const failure of [...s.failures, ...u.failures]) console.log(`    ${extractor.name} fails ${failure}`);
}

// Per source (the file name's prefix: talon-, gh-, disc-…), each extractor's seen and unseen score.
const sources = [...new Set(corpus.map(sourceOf))].sort();
console.log(`\n| Source (seen / unseen) | ${extractors.map((e) => e.name).join(' | ')} |`);
console.log(`|---|${extractors.map(() => '---|').join('')}`);
for (const source of sources) {
  const cells = extractors.map((extractor) => {
    const part = (p: CorpusPart) => corpus.filter((c) => sourceOf(c) === source && c.part === p);
    const [s, u] = [part('seen'), part('unseen')];
    return `${score(extractor, s).passed}/${s.length} / ${score(extractor, u).passed}/${u.length}`;
  });
  console.log(`| ${source} | ${cells.join(' | ')} |`);
}
