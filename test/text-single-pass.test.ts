import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normaliseWhitespace, truncateToSegments } from '../src/message/text.js';
import { referenceTruncate, referenceWhitespace } from '../bench/reference-text.js';

/*
 * The one-pass whitespace rules and truncation against the obvious
 * implementations they replaced (regex passes; a full measure per tried
 * prefix), on text full of the characters that make them differ: every kind
 * of space and line break, zero-width characters, GSM-7 extension
 * characters, non-GSM letters, surrogate pairs and lone surrogates.
 */

const SPACES = [' ', ' ', '\t', '\v', '\f', '\n', '\n', '\r', '\r\n', '\u00a0', '\u2028', '\u2029', '\u3000', '\u202f', '\u1680', '\u2003', '\u0085'];
const INVISIBLE = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad'];
const WORDS = ['a', 'Server', 'down', 'é', '€', '[', '^', '.', ',', '-', '!', '?', ';', ':', 'ł', 'Ж', '中', '🚨', '👍🏽', '\ud83d', '\ude00'];
const piece = fc.constantFrom(...SPACES, ...INVISIBLE, ...WORDS, 'x'.repeat(40), 'word '.repeat(12));
const text = (maxLength: number) => fc.array(piece, { maxLength }).map((parts) => parts.join(''));

describe('single-pass text rules', () => {
  it('normaliseWhitespace equals the regex passes it replaced', () => {
    fc.assert(fc.property(text(80), (input) => {
      expect(normaliseWhitespace(input)).toBe(referenceWhitespace(input));
    }), { numRuns: 3000 });
  });

  it('truncateToSegments equals a full measure of every tried prefix', () => {
    const suffix = fc.constantFrom('', '\nReply STOP to 1234', '\nStop: sms.example/stop 🚫', '\n€€€', '\nŁódź');
    fc.assert(
      fc.property(text(60), fc.integer({ min: 1, max: 4 }), suffix, (input, max, end) => {
        expect(truncateToSegments(input, max, end)).toBe(referenceTruncate(input, max, end));
      }),
      { numRuns: 3000 },
    );
  });

  it('cuts at word boundaries, drops trailing punctuation, and falls back to characters for one long word', () => {
    expect(truncateToSegments(`${'word '.repeat(40)}end`, 1)).toBe(`${'word '.repeat(30)}word...`);
    expect(truncateToSegments(`Alarm - ${'x'.repeat(200)}`, 1)).toBe('Alarm...');
    expect(truncateToSegments('x'.repeat(400), 1)).toBe('x'.repeat(157) + '...');
    expect(truncateToSegments('🚨'.repeat(100), 1)).toBe('🚨'.repeat(33) + '...');
  });
});
