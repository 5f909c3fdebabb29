/*
 * Email → SMS text, basic form: the text/plain part, else the HTML converted to
 * text (mailparser does the conversion), whitespace normalised. The issue
 * "Email → SMS text" deepens this (quotes, signatures, transliteration, limits)
 * behind the same function.
 */
import { convert } from 'html-to-text';
import { measureSms, type SmsMeasure } from './encoding.js';

export interface EmailContent {
  subject: string | undefined;
  text: string | undefined;
  html: string | undefined;
}

export type SmsText = { ok: true; text: string; measure: SmsMeasure } | { ok: false; reason: 'no_text' };

export function normaliseWhitespace(input: string): string {
  return input
    .replace(/\r\n?/g, '\n')
    .replace(/[\u00a0\t\f\v ]+/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

export function buildSmsText(content: EmailContent): SmsText {
  const source = content.text?.trim() ? content.text : content.html ? htmlToText(content.html) : '';
  const text = normaliseWhitespace(source);
  if (!text) return { ok: false, reason: 'no_text' };
  return { ok: true, text, measure: measureSms(text) };
}

function htmlToText(html: string): string {
  return convert(html, {
    wordwrap: false,
    selectors: [
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
      { selector: 'img', format: 'skip' },
    ],
  });
}
