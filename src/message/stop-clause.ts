/*
 * The STOP clause of marketing SMS ("Reply STOP to opt out", "Afmeld: SMS
 * STOP til 1234"). A sender who already wrote one should not get a second;
 * one who wrote "stopwatch sale" has not written one.
 */

const COMBINING_MARKS = /\p{M}+/gu;
const SPACES = /[\s\p{Z}]+/gu;
const WORD_CHAR = /[\p{L}\p{N}]/u;

/** Case- and accent-free form with single spaces, so "Arrêt" finds "ARRET" and a line break finds a space. */
function fold(text: string): string {
  return text.normalize('NFKD').replace(COMBINING_MARKS, '').toUpperCase().replace(SPACES, ' ').trim();
}

function isWordChar(ch: string | undefined): boolean {
  return ch !== undefined && WORD_CHAR.test(ch);
}

/** Where `phrase` occurs in `haystack` with no letter or digit glued to either end (only where the phrase itself ends in one). */
function containsPhrase(haystack: string, phrase: string): boolean {
  const needsStart = isWordChar(phrase[0]);
  const needsEnd = isWordChar(phrase[phrase.length - 1]);
  for (let at = haystack.indexOf(phrase); at !== -1; at = haystack.indexOf(phrase, at + 1)) {
    if (needsStart && isWordChar(haystack[at - 1])) continue;
    if (needsEnd && isWordChar(haystack[at + phrase.length])) continue;
    return true;
  }
  return false;
}

/**
 * Whether `text` already contains one of the `detect` phrases, ignoring case,
 * accents and how words are spaced; whole words only ("stopwatch" is not
 * "stop"). Empty phrases never match.
 */
export function hasStopClause(text: string, detect: readonly string[]): boolean {
  const haystack = fold(text);
  for (const raw of detect) {
    const phrase = fold(raw);
    if (phrase && containsPhrase(haystack, phrase)) return true;
  }
  return false;
}
