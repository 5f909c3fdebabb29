/*
 * Inbound SMS keywords: is a reply an opt-out, an opt-in, a request for help,
 * or just a reply? Opt-out is the costly one to miss (a person who said STOP
 * and still gets SMS), and the costly one to invent ("don't stop" is not a
 * STOP), so the rules are the carrier conventions, nothing looser:
 *   - opt-out when the FIRST word is a stop word (STOP, STOP NOW, Stop.),
 *     or when the WHOLE message is one of a few words that are too common as
 *     the start of a sentence (CANCEL, END, QUIT: "Cancel the callout");
 *   - opt-in and HELP only as the whole message ("Yes, on my way" is a reply).
 * Matching ignores case, accents and the punctuation around words, so
 * "Arrêt !" is ARRET and "ＳＴＯＰ" (full-width) is STOP.
 */
import { z } from 'zod';

export interface KeywordConfig {
  /** Opt-out when the message starts with one of these (whole words; an entry may be several words). */
  readonly optOutFirstWord: readonly string[];
  /** Opt-out only when the whole message is one of these. */
  readonly optOutWhole: readonly string[];
  /** Opt-in when the whole message is one of these. */
  readonly optIn: readonly string[];
  /** HELP when the whole message is one of these. */
  readonly help: readonly string[];
}

export type InboundKind = 'opt_out' | 'opt_in' | 'help' | 'none';

export interface InboundClassification {
  kind: InboundKind;
  /** The configured keyword that matched, normalised (e.g. "ARRET"); absent for `none`. */
  keyword?: string;
}

export const DEFAULT_KEYWORDS: KeywordConfig = Object.freeze({
  optOutFirstWord: Object.freeze(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'OPTOUT', 'REVOKE']),
  optOutWhole: Object.freeze(['CANCEL', 'END', 'QUIT']),
  optIn: Object.freeze(['START', 'UNSTOP', 'SUBSCRIBE', 'YES']),
  help: Object.freeze(['HELP']),
});

const COMBINING_MARKS = /\p{M}+/gu;
// Punctuation and symbols (emoji included) around a word carry no meaning for a keyword: "stop!!", "(stop)", "stop👍".
const EDGE_JUNK = /^[\p{P}\p{S}]+|[\p{P}\p{S}]+$/gu;
const WHITESPACE = /[\s\p{Z}\p{Cc}\p{Cf}]+/u;

function words(text: string): string[] {
  const out: string[] = [];
  const upper = text.normalize('NFKD').replace(COMBINING_MARKS, '').toUpperCase();
  for (const raw of upper.split(WHITESPACE)) {
    const word = raw.replace(EDGE_JUNK, '');
    if (word) out.push(word);
  }
  return out;
}

/**
 * The form keywords are compared in: NFKD without combining accents,
 * upper case, each word trimmed of surrounding punctuation and symbols,
 * words joined by one space. " Arrêt!! " → "ARRET", "don't stop" → "DON'T STOP".
 */
export function normaliseKeywordText(text: string): string {
  return words(text).join(' ');
}

function startsWithWords(message: readonly string[], keyword: readonly string[]): boolean {
  if (keyword.length === 0 || keyword.length > message.length) return false;
  for (let i = 0; i < keyword.length; i++) if (message[i] !== keyword[i]) return false;
  return true;
}

/**
 * Classifies an inbound SMS. Opt-out is checked first: a word configured in
 * two lists (which the schema refuses anyway) must never turn a STOP into
 * anything else.
 */
export function classifyInbound(text: string, keywords: KeywordConfig = DEFAULT_KEYWORDS): InboundClassification {
  const message = words(text);
  if (message.length === 0) return { kind: 'none' };
  const whole = message.join(' ');
  // Configured words may not be normalised yet (a hand-built config): compare normalised forms on both sides.
  for (const keyword of keywords.optOutFirstWord) {
    const key = words(keyword);
    if (startsWithWords(message, key)) return { kind: 'opt_out', keyword: key.join(' ') };
  }
  const lists: [readonly string[], InboundKind][] = [
    [keywords.optOutWhole, 'opt_out'],
    [keywords.optIn, 'opt_in'],
    [keywords.help, 'help'],
  ];
  for (const [list, kind] of lists) {
    for (const keyword of list) {
      const key = normaliseKeywordText(keyword);
      if (key && key === whole) return { kind, keyword: key };
    }
  }
  return { kind: 'none' };
}

const keywordList = z.array(z.string()).default([]);

/**
 * The `keywords:` config block. Configured words ADD to the defaults (a
 * config can never switch STOP off), are stored normalised, and a word may
 * not mean two things.
 */
export const keywordsSchema = z
  .strictObject({
    opt_out: keywordList.meta({ description: 'More opt-out words, matched as the first word of a reply (e.g. AFMELD, STOPP, ARRET). Added to STOP, STOPALL, UNSUBSCRIBE, OPTOUT, REVOKE.' }),
    opt_out_whole: keywordList.meta({ description: 'More opt-out words that count only as the whole reply. Added to CANCEL, END, QUIT.' }),
    opt_in: keywordList.meta({ description: 'More opt-in words (whole reply only). Added to START, UNSTOP, SUBSCRIBE, YES.' }),
    help: keywordList.meta({ description: 'More HELP words (whole reply only, e.g. HJÆLP). Added to HELP.' }),
  })
  .default({ opt_out: [], opt_out_whole: [], opt_in: [], help: [] })
  .superRefine((block, ctx) => {
    const seen = new Map<string, string>();
    const defaults: Record<keyof typeof block, readonly string[]> = {
      opt_out: DEFAULT_KEYWORDS.optOutFirstWord,
      opt_out_whole: DEFAULT_KEYWORDS.optOutWhole,
      opt_in: DEFAULT_KEYWORDS.optIn,
      help: DEFAULT_KEYWORDS.help,
    };
    for (const list of Object.keys(defaults) as (keyof typeof block)[]) {
      for (const word of defaults[list]) seen.set(word, `${list} (built in)`);
    }
    const firstWords = [...DEFAULT_KEYWORDS.optOutFirstWord, ...block.opt_out.map(normaliseKeywordText).filter(Boolean)];
    for (const list of Object.keys(defaults) as (keyof typeof block)[]) {
      block[list].forEach((word, i) => {
        const key = normaliseKeywordText(word);
        if (!key) {
          ctx.addIssue({ code: 'custom', path: [list, i], message: `"${word}" has no letters or digits: it could never match a reply` });
          return;
        }
        // Opt-out by first word is checked first, so "STOP AGAIN" as an opt-in could never be reached.
        const shadow = list === 'opt_out' ? undefined : firstWords.find((first) => startsWithWords(key.split(' '), first.split(' ')));
        if (shadow !== undefined) {
          ctx.addIssue({ code: 'custom', path: [list, i], message: `"${word}" starts with the opt-out word ${shadow}: such a reply is always an opt-out` });
          return;
        }
        const other = seen.get(key);
        if (other !== undefined && !other.startsWith(`${list} `) && other !== list) {
          ctx.addIssue({ code: 'custom', path: [list, i], message: `"${word}" is also in ${other}: a reply must mean one thing` });
          return;
        }
        seen.set(key, list);
      });
    }
  })
  .transform((block): KeywordConfig => {
    const merge = (defaults: readonly string[], extra: readonly string[]) =>
      Object.freeze([...new Set([...defaults, ...extra.map(normaliseKeywordText)])]);
    return Object.freeze({
      optOutFirstWord: merge(DEFAULT_KEYWORDS.optOutFirstWord, block.opt_out),
      optOutWhole: merge(DEFAULT_KEYWORDS.optOutWhole, block.opt_out_whole),
      optIn: merge(DEFAULT_KEYWORDS.optIn, block.opt_in),
      help: merge(DEFAULT_KEYWORDS.help, block.help),
    });
  });
