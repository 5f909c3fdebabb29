import { describe, expect, it } from 'vitest';
import { classifyInbound, DEFAULT_KEYWORDS, keywordsSchema, normaliseKeywordText, type KeywordConfig } from '../src/consent/keywords.js';

// A Danish/Norwegian/French setup, built through the schema like a real config.
const configured: KeywordConfig = keywordsSchema.parse({
  opt_out: ['AFMELD', 'STOPP', 'Arrêt'],
  opt_in: ['JA', 'tilmeld'],
  help: ['HJÆLP', 'HJAELP'],
});

describe('normaliseKeywordText', () => {
  it.each([
    ['  stop!! ', 'STOP'],
    ['Arrêt', 'ARRET'],
    ['ARRÊT.', 'ARRET'],
    ['hjælp', 'HJÆLP'],
    ['ＳＴＯＰ', 'STOP'], // full-width letters (NFKD)
    ["don't   stop", "DON'T STOP"],
    ['(stop) - now!', 'STOP NOW'],
    ['Stop\nThanks', 'STOP THANKS'],
    ['¡¿!?', ''],
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(normaliseKeywordText(input)).toBe(expected);
  });
});

describe('classifyInbound (defaults and configured translations)', () => {
  it.each<[string, 'opt_out' | 'opt_in' | 'help' | 'none', string | undefined]>([
    // Opt-out by first word
    ['STOP', 'opt_out', 'STOP'],
    ['STOP NOW', 'opt_out', 'STOP'],
    ['Stop.', 'opt_out', 'STOP'],
    ['stop please', 'opt_out', 'STOP'],
    [' stop!! ', 'opt_out', 'STOP'],
    ['stop\nsending me these', 'opt_out', 'STOP'],
    ['STOPALL', 'opt_out', 'STOPALL'],
    ['Unsubscribe me', 'opt_out', 'UNSUBSCRIBE'],
    ['optout', 'opt_out', 'OPTOUT'],
    ['Revoke consent', 'opt_out', 'REVOKE'],
    ['"Stop"', 'opt_out', 'STOP'],
    ['Stop👍', 'opt_out', 'STOP'],
    ['ＳＴＯＰ', 'opt_out', 'STOP'],
    // Opt-out only as the whole message
    ['Cancel', 'opt_out', 'CANCEL'],
    ['cancel.', 'opt_out', 'CANCEL'],
    ['END', 'opt_out', 'END'],
    ['quit!', 'opt_out', 'QUIT'],
    ['Cancel the callout', 'none', undefined],
    ['End of shift, all fine', 'none', undefined],
    ['quit it', 'none', undefined],
    // Not a keyword at all
    ["don't stop", 'none', undefined],
    ['Please stop', 'none', undefined],
    ['stopwatch', 'none', undefined],
    ['STOPPED the pump', 'none', undefined],
    ['nonstop', 'none', undefined],
    ['', 'none', undefined],
    ['   ', 'none', undefined],
    ['!!!', 'none', undefined],
    // Opt-in and HELP only as the whole message
    ['START', 'opt_in', 'START'],
    ['unstop', 'opt_in', 'UNSTOP'],
    ['Subscribe', 'opt_in', 'SUBSCRIBE'],
    ['yes', 'opt_in', 'YES'],
    ['Yes!', 'opt_in', 'YES'],
    ['Yes, on my way', 'none', undefined],
    ['start the generator', 'none', undefined],
    ['HELP', 'help', 'HELP'],
    ['help?', 'help', 'HELP'],
    ['help me with the alarm', 'none', undefined],
    // Configured translations
    ['Arrêt', 'opt_out', 'ARRET'],
    ['arret', 'opt_out', 'ARRET'],
    ['ARRÊT maintenant', 'opt_out', 'ARRET'],
    ['Afmeld', 'opt_out', 'AFMELD'],
    ['afmeld tak', 'opt_out', 'AFMELD'],
    ['Stopp!', 'opt_out', 'STOPP'],
    ['ja', 'opt_in', 'JA'],
    ['Tilmeld.', 'opt_in', 'TILMELD'],
    ['Hjælp', 'help', 'HJÆLP'],
    ['hjaelp', 'help', 'HJAELP'],
    ['ja tak, jeg kommer', 'none', undefined],
  ])('%j → %s', (text, kind, keyword) => {
    const result = classifyInbound(text, configured);
    expect(result.kind).toBe(kind);
    expect(result.keyword).toBe(keyword);
  });

  it('translations only count when configured', () => {
    expect(classifyInbound('Arrêt', DEFAULT_KEYWORDS)).toEqual({ kind: 'none' });
    expect(classifyInbound('Afmeld', DEFAULT_KEYWORDS)).toEqual({ kind: 'none' });
    expect(classifyInbound('Arrêt', configured)).toEqual({ kind: 'opt_out', keyword: 'ARRET' });
  });

  it('compares hand-built (unnormalised) configs in normalised form too', () => {
    const raw: KeywordConfig = { ...DEFAULT_KEYWORDS, optOutFirstWord: ['arrêt'], help: ['Hjælp'] };
    expect(classifyInbound('ARRET svp', raw)).toEqual({ kind: 'opt_out', keyword: 'ARRET' });
    expect(classifyInbound('HJÆLP', raw)).toEqual({ kind: 'help', keyword: 'HJÆLP' });
  });

  it('a multi-word first-word entry matches whole words only', () => {
    const keywords: KeywordConfig = { ...DEFAULT_KEYWORDS, optOutFirstWord: ['STOP ALL'] };
    expect(classifyInbound('stop all now', keywords)).toEqual({ kind: 'opt_out', keyword: 'STOP ALL' });
    expect(classifyInbound('stop allocation', keywords)).toEqual({ kind: 'none' });
  });
});

describe('keywords config block', () => {
  it('an absent block is the defaults', () => {
    expect(keywordsSchema.parse(undefined)).toEqual(DEFAULT_KEYWORDS);
    expect(keywordsSchema.parse({})).toEqual(DEFAULT_KEYWORDS);
  });

  it('configured words add to the defaults, normalised and without duplicates', () => {
    const result = keywordsSchema.parse({ opt_out: ['afmeld', 'STOP', 'Arrêt'], help: ['hjælp'] });
    expect(result.optOutFirstWord).toEqual(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'OPTOUT', 'REVOKE', 'AFMELD', 'ARRET']);
    expect(result.optOutWhole).toEqual(['CANCEL', 'END', 'QUIT']);
    expect(result.help).toEqual(['HELP', 'HJÆLP']);
  });

  it.each([
    [{ opt_in: ['stop'] }, ['opt_in', 0], 'starts with the opt-out word STOP'],
    [{ opt_in: ['Stop again'] }, ['opt_in', 0], 'starts with the opt-out word STOP'],
    [{ opt_out: ['AFMELD'], help: ['afmeld'] }, ['help', 0], 'starts with the opt-out word AFMELD'],
    [{ help: ['YES'] }, ['help', 0], 'is also in opt_in (built in)'],
    [{ opt_in: ['ja'], help: ['JA'] }, ['help', 0], 'is also in opt_in'],
    [{ opt_out_whole: ['Start'] }, ['opt_out_whole', 0], 'is also in opt_in (built in)'],
    [{ opt_out: ['!!'] }, ['opt_out', 0], 'has no letters or digits'],
  ])('refuses %j', (input, path, message) => {
    const result = keywordsSchema.safeParse(input);
    expect(result.success).toBe(false);
    const issue = result.error?.issues[0];
    expect(issue?.path).toEqual(path);
    expect(issue?.message).toContain(message);
  });

  it('refuses unknown keys', () => {
    expect(keywordsSchema.safeParse({ optout: ['x'] }).success).toBe(false);
  });
});
