/*
 * What an SMS may carry: no bidi overrides or isolates (they make a text read
 * differently from what it is, "Trojan Source"), no C0/C1 control characters
 * and no NULs. Line breaks and tabs stay; the whitespace rules of text.ts
 * deal with them.
 */

// U+202A–U+202E (embeddings, overrides), U+2066–U+2069 (isolates). The plain marks (U+200E, U+200F) stay: right-to-left text needs them.
const BIDI = /[\u202a-\u202e\u2066-\u2069]/g;
// C0 except the whitespace ones (tab, line feed, vertical tab, form feed, carriage return); DEL; C1.
const CONTROLS = /[\u0000-\u0008\u000e-\u001f\u007f-\u009f]/g;

export function sanitiseText(text: string): string {
  return text.replace(BIDI, '').replace(CONTROLS, '');
}
