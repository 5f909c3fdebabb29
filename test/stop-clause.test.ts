import { describe, expect, it } from 'vitest';
import { measureSms } from '../src/message/encoding.js';
import { hasStopClause } from '../src/message/stop-clause.js';
import { buildSmsText, DEFAULT_TEXT_POLICY, type TextPolicy } from '../src/message/text.js';

const DETECT = ['STOP', 'afmeld', 'Reply STOP to opt out', 'arrêt'];

describe('hasStopClause', () => {
  it.each<[string, readonly string[], boolean]>([
    ['Sale today. Reply STOP to opt out', DETECT, true],
    ['Sale today. reply stop to opt out', ['Reply STOP to opt out'], true],
    ['Sale today. Reply\nSTOP   to opt out', ['Reply STOP to opt out'], true],
    ['Sale today. Reply STOP to opt-out', ['Reply STOP to opt out'], false],
    ['Send stop to 1234', DETECT, true],
    ['Send STOP.', DETECT, true],
    ['"STOP" to 1234', DETECT, true],
    ['Afmeld: SMS STOP til 1234', ['afmeld'], true],
    ['AFMELD på link', ['Afmeld'], true],
    ['Répondez ARRET', ['arrêt'], true],
    ['Répondez Arrêt pour vous désabonner', ['ARRET'], true],
    ['ＳＴＯＰ to 1234', ['stop'], true],
    ['Stopwatch sale today', DETECT, false],
    ['Nonstop deals', DETECT, false],
    ['STOP2 is not a word', ['STOP'], false],
    ['Afmeldelse', ['afmeld'], false],
    ['Sale today', DETECT, false],
    ['Sale today', [], false],
    ['Sale today', [''], false],
    ['', DETECT, false],
    ['Stop: later', ['STOP:'], true],
    ['Sale, stopwatch, stop', ['stop'], true], // a later whole-word occurrence still counts
  ])('%j with %j → %s', (text, detect, expected) => {
    expect(hasStopClause(text, detect)).toBe(expected);
  });
});

const clause = { text: 'Reply STOP to opt out', detect: DETECT };
const policy = (overrides: Partial<TextPolicy> = {}): TextPolicy => ({ ...DEFAULT_TEXT_POLICY, stopClause: clause, ...overrides });
const mail = (text: string) => ({ subject: '', text, html: undefined });
/** GSM-7 text of exactly n characters, ending in a letter (normalisation would trim a space). */
const body = (n: number) => 'abcd '.repeat(Math.ceil(n / 5)).slice(0, n);

describe('buildSmsText with a STOP clause', () => {
  it.each([
    ['absent: appended after a line break', 'Big sale today', 'Big sale today\nReply STOP to opt out', true],
    ['present: not appended', 'Big sale today. Reply STOP to opt out', 'Big sale today. Reply STOP to opt out', false],
    ['present in another case and spacing', 'Big sale today.\nreply stop to\nopt out', 'Big sale today.\nreply stop to\nopt out', false],
    ['translated (afmeld)', 'Udsalg i dag. Afmeld: SMS STOP til 1234', 'Udsalg i dag. Afmeld: SMS STOP til 1234', false],
    ['accented (Arrêt)', 'Soldes. Répondez Arrêt', 'Soldes. Répondez Arrêt', false],
    ['a word that only contains STOP', 'Stopwatch sale', 'Stopwatch sale\nReply STOP to opt out', true],
  ])('%s', (_name, text, expected, appended) => {
    expect(buildSmsText(mail(text), policy())).toMatchObject({ ok: true, text: expected, stopClauseAppended: appended });
  });

  it('no clause configured: nothing appended', () => {
    expect(buildSmsText(mail('Big sale'), DEFAULT_TEXT_POLICY)).toMatchObject({ ok: true, text: 'Big sale', stopClauseAppended: false });
  });

  it('comes after the suffix', () => {
    expect(buildSmsText(mail('Big sale'), policy({ suffix: 'Shop ABC' }))).toMatchObject({ ok: true, text: 'Big sale\nShop ABC\nReply STOP to opt out' });
  });

  it('is transliterated with the body, and left alone when transliteration is off', () => {
    const curly = { text: 'Reply STOP – it’s free', detect: ['STOP'] };
    expect(buildSmsText(mail('Sale'), policy({ stopClause: curly }))).toMatchObject({ text: "Sale\nReply STOP - it's free", measure: { encoding: 'GSM-7' } });
    expect(buildSmsText(mail('Sale'), policy({ stopClause: curly, transliterate: false }))).toMatchObject({ text: 'Sale\nReply STOP – it’s free', measure: { encoding: 'UCS-2' } });
  });

  // "\nReply STOP to opt out" is 22 characters: a 138-character body fills one SMS (160) exactly.
  describe('at the segment budget', () => {
    it('exactly fits: one segment, nothing cut', () => {
      const result = buildSmsText(mail(body(138)), policy({ maxSegments: 1 }));
      expect(result).toMatchObject({ ok: true, text: `${body(138)}\nReply STOP to opt out`, measure: { units: 160, segments: 1 }, warnings: [] });
    });

    it('one character over with reject: too long, counted with the clause', () => {
      expect(buildSmsText(mail(body(139)), policy({ maxSegments: 1 }))).toEqual({ ok: false, reason: 'too_long', segments: 2, maxSegments: 1 });
    });

    it('one character over with truncate: the body is cut, the clause is whole', () => {
      const result = buildSmsText(mail(body(139)), policy({ maxSegments: 1, onOverflow: 'truncate' }));
      if (!result.ok) throw new Error('expected ok');
      expect(result.text.endsWith('...\nReply STOP to opt out')).toBe(true);
      expect(result.measure.segments).toBe(1);
      expect(result.stopClauseAppended).toBe(true);
      expect(result.warnings).toContain('truncated');
      expect(body(139).startsWith(result.text.split('...')[0] as string)).toBe(true);
    });

    it('the same body without a clause would have fit: the clause is what costs the segment', () => {
      expect(buildSmsText(mail(body(139)), policy({ maxSegments: 1, stopClause: undefined }))).toMatchObject({ ok: true, measure: { segments: 1 } });
    });

    it("a sender's own clause cut off by truncation is replaced by ours", () => {
      const long = `${body(300)} Reply STOP to opt out`;
      const result = buildSmsText(mail(long), policy({ maxSegments: 1, onOverflow: 'truncate' }));
      if (!result.ok) throw new Error('expected ok');
      expect(result.text.endsWith('...\nReply STOP to opt out')).toBe(true);
      expect(result.stopClauseAppended).toBe(true);
      expect(result.measure.segments).toBe(1);
    });

    it("a sender's clause that survives truncation is kept and ours is not added", () => {
      const long = `Reply STOP to opt out. ${body(300)}`;
      const result = buildSmsText(mail(long), policy({ maxSegments: 1, onOverflow: 'truncate' }));
      if (!result.ok) throw new Error('expected ok');
      expect(result.text.startsWith('Reply STOP to opt out.')).toBe(true);
      expect(result.text.endsWith('...')).toBe(true);
      expect(result.stopClauseAppended).toBe(false);
      expect(result.measure.segments).toBe(1);
    });

    it('a clause that cannot fit at all is too long even with truncate', () => {
      const huge = { text: 'x'.repeat(200), detect: ['STOP'] };
      const result = buildSmsText(mail('Sale'), policy({ maxSegments: 1, onOverflow: 'truncate', stopClause: huge }));
      expect(result).toMatchObject({ ok: false, reason: 'too_long', maxSegments: 1 });
      expect(measureSms(`...\n${'x'.repeat(200)}`).segments).toBe(2);
    });
  });
});
