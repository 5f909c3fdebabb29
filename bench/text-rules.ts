/*
 * The text rules on the hot path, one pass against the passes they replaced
 * (bench/reference-text.ts), in the same process:
 *
 *   npm run build && npm run bench:text-rules [-- --rounds 20000]
 *
 * Prints µs per call for the whitespace rules on a typical alert, for
 * truncating a long alert to one and to three segments with a STOP clause,
 * and the whole email → SMS text build of a truncated alert.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { buildSmsText, DEFAULT_TEXT_POLICY, normaliseWhitespace, truncateToSegments } from '../src/message/text.js';
import { referenceTruncate, referenceWhitespace } from './reference-text.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '20000' } } });
const rounds = Number(args.rounds);

const line = 'ALERT  db-01\tdisk /var at 97 %  (threshold 90 %),  growing 2 GB/h;  ';
const alert = `${Array.from({ length: 12 }, (_, i) => `${line}check ${i}`).join('\r\n')}\r\n\r\n\r\n-- \r\nMonitoring`;
const stop = '\nReply STOP to 1234';

function microseconds(run: () => unknown): number {
  for (let i = 0; i < 1000; i++) run();
  const start = performance.now();
  for (let i = 0; i < rounds; i++) run();
  return ((performance.now() - start) * 1000) / rounds;
}

const rows: [string, () => unknown, () => unknown][] = [
  [`whitespace rules (${alert.length} chars)`, () => normaliseWhitespace(alert), () => referenceWhitespace(alert)],
  ['truncate to 1 segment + STOP', () => truncateToSegments(normaliseWhitespace(alert), 1, stop), () => referenceTruncate(referenceWhitespace(alert), 1, stop)],
  ['truncate to 3 segments + STOP', () => truncateToSegments(normaliseWhitespace(alert), 3, stop), () => referenceTruncate(referenceWhitespace(alert), 3, stop)],
];
console.log(`text rules, ${rounds} rounds each (µs per call)`);
console.log('| | one pass | before | before ÷ one pass |\n|---|---|---|---|');
for (const [name, now, before] of rows) {
  if (now() !== before()) throw new Error(`${name}: the one-pass answer differs from the reference`);
  const a = microseconds(now);
  const b = microseconds(before);
  console.log(`| ${name} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(b / a).toFixed(1)} × |`);
}
const policy = { ...DEFAULT_TEXT_POLICY, maxSegments: 1, onOverflow: 'truncate' as const };
const content = { subject: 'db-01 disk', text: alert, html: undefined };
console.log(`whole email → SMS text of a truncated alert (strip, whitespace, truncate): ${microseconds(() => buildSmsText(content, policy)).toFixed(1)} µs`);
