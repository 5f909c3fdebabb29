import { describe, expect, it } from 'vitest';
import { measureSms } from '../src/message/encoding.js';
import { stripNonMessage } from '../src/message/strip.js';
import { buildSmsText, DEFAULT_TEXT_POLICY, truncateToSegments, type TextPolicy } from '../src/message/text.js';
import { transliterate } from '../src/message/transliterate.js';

const policy = (overrides: Partial<TextPolicy> = {}): TextPolicy => ({ ...DEFAULT_TEXT_POLICY, ...overrides });

describe('stripping what a person would not have typed', () => {
  it.each([
    ['English quote header', 'Yes, restart it.\n\nOn Mon, 5 Jan 2026 at 10:02, Ops <ops@example.test> wrote:\n> Server down?', 'Yes, restart it.\n'],
    ['quote header wrapped over two lines', 'Done\nOn Mon, Jan 5, 2026 at 10:02 AM Jane Doe <\njane@example.test> wrote:\n> x', 'Done'],
    ['Danish', 'Ok\nDen 5. jan. 2026 kl. 10.02 skrev Ops <ops@example.test>:\n> x', 'Ok'],
    ['German', 'Erledigt\nAm 05.01.2026 um 10:02 schrieb Ops:\n> x', 'Erledigt'],
    ['French', "C'est fait\nLe lun. 5 janv. 2026 à 10:02, Ops <ops@example.test> a écrit :\n> x", "C'est fait"],
    ['Outlook block', 'Approved\n\n________________________________\nFrom: Jane Doe <jane@example.test>\nSent: Monday, January 5, 2026 10:02\nTo: Ops\nSubject: x', 'Approved\n'],
    ['Outlook block in Danish', 'Godkendt\nFra: Jens Hansen <jh@example.dk>\nSendt: 5. januar 2026 10:02\nTil: Ops', 'Godkendt'],
    ['Original Message separator', 'See below\n-----Original Message-----\nFrom: x', 'See below'],
    ['signature', 'Disk full on db1\n-- \nJane Doe\nOps team', 'Disk full on db1'],
    ['mobile footer', 'Call me\n\nSent from my iPhone', 'Call me\n'],
    ['German mobile footer', 'Ruf an\nVon meinem iPhone gesendet', 'Ruf an'],
    ['stray quoted lines', 'Answer inline\n> question 1\nyes\n> question 2\nno', 'Answer inline\nyes\nno'],
  ])('%s', (_name, input, expected) => {
    expect(stripNonMessage(input).text).toBe(expected);
  });

  it('cuts at a disclaimer marker (text or regex)', () => {
    const text = 'Backup failed\nThis e-mail is confidential and intended only for the addressee.';
    expect(stripNonMessage(text, [{ kind: 'text', text: 'E-MAIL IS CONFIDENTIAL' }]).text).toBe('Backup failed');
    expect(stripNonMessage(text, [{ kind: 'regex', regex: /^this e-?mail is confidential/i }]).text).toBe('Backup failed');
  });

  it('never strips everything: a mail that is only a quote is kept as it is, with a warning', () => {
    const quoteOnly = 'On Mon, 5 Jan 2026, Ops wrote:\n> Server down';
    expect(stripNonMessage(quoteOnly)).toEqual({ text: quoteOnly, fellBack: true });
    const result = buildSmsText({ subject: 'x', text: quoteOnly, html: undefined });
    expect(result).toMatchObject({ ok: true, warnings: ['stripping_left_nothing'] });
  });

  it('keeps a line that merely mentions writing', () => {
    expect(stripNonMessage('The operator wrote: restart at 10').text).toBe('The operator wrote: restart at 10');
  });
});

describe('transliteration', () => {
  it('turns typography into GSM-7 and leaves letters alone', () => {
    const input = '“Don’t” – it’s 5 … ok • done\u00a0now æøå äöü é ł';
    expect(transliterate(input)).toBe('"Don\'t" - it\'s 5 ... ok - done now æøå äöü é ł');
  });

  it('one curly apostrophe no longer halves the capacity', () => {
    const text = `It’s ${'x'.repeat(150)}`;
    expect(measureSms(text).segments).toBe(3); // UCS-2: 155 units
    expect(buildSmsText({ subject: '', text, html: undefined })).toMatchObject({ ok: true, measure: { encoding: 'GSM-7', segments: 1 } });
  });

  it('can be switched off per setup', () => {
    expect(buildSmsText({ subject: '', text: 'It’s', html: undefined }, policy({ transliterate: false }))).toMatchObject({ text: 'It’s' });
  });
});

describe('text source', () => {
  const mail = { subject: 'CPU high on web1', text: 'Load 12.5 for 10 minutes', html: undefined };
  it.each([
    ['body', {}, 'Load 12.5 for 10 minutes'],
    ['subject', { source: 'subject' as const }, 'CPU high on web1'],
    ['subject+body', { source: 'subject+body' as const }, 'CPU high on web1\nLoad 12.5 for 10 minutes'],
    ['subject+body with a separator', { source: 'subject+body' as const, separator: ': ' }, 'CPU high on web1: Load 12.5 for 10 minutes'],
  ])('%s', (_name, overrides, expected) => {
    expect(buildSmsText(mail, policy(overrides))).toMatchObject({ ok: true, text: expected });
  });
});

describe('length policy', () => {
  const long = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' '); // ~ 800 characters

  it('rejects over max_segments with the count', () => {
    expect(buildSmsText({ subject: '', text: long, html: undefined })).toEqual({ ok: false, reason: 'too_long', segments: measureSms(long).segments, maxSegments: 3 });
  });

  it('truncates at a word boundary with three dots, within the limit', () => {
    const result = buildSmsText({ subject: '', text: long, html: undefined }, policy({ onOverflow: 'truncate', maxSegments: 2 }));
    if (!result.ok) throw new Error('expected ok');
    expect(result.measure.segments).toBe(2);
    expect(result.text).toMatch(/ word\d+\.\.\.$/);
    expect(long.startsWith(result.text.slice(0, -3))).toBe(true);
    expect(result.warnings).toContain('truncated');
    expect(measureSms(result.text.slice(0, -3) + ' ' + 'wordNN').segments).toBeGreaterThanOrEqual(2);
  });

  it('truncating never splits a surrogate pair and stays GSM-7 with "..."', () => {
    const emoji = '🚨'.repeat(100);
    const cut = truncateToSegments(emoji, 1);
    expect(measureSms(cut).segments).toBe(1);
    expect(cut.endsWith('...')).toBe(true);
    expect(/[\ud800-\udbff]\.\.\.$/.test(cut)).toBe(false);
    expect(truncateToSegments('x'.repeat(400), 1)).toBe('x'.repeat(157) + '...');
  });

  it('keeps room for an appended clause (the STOP text of marketing setups)', () => {
    const result = buildSmsText({ subject: '', text: long, html: undefined }, policy({ onOverflow: 'truncate', maxSegments: 2, suffix: 'STOP to 1234' }));
    if (!result.ok) throw new Error('expected ok');
    expect(result.text.endsWith('...\nSTOP to 1234')).toBe(true);
    expect(result.measure.segments).toBe(2);
  });
});
