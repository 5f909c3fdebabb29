import type { ParsedEmail } from './email.js';
import { htmlToText } from './html.js';
import { htmlLimitBroken, mimeLimitBroken, type HtmlLimits, type MimeLimits } from './limits.js';
import { parseEmail } from './mime-parse.js';

export interface ParseLimits {
  mime: MimeLimits;
  html: HtmlLimits;
}

/** A mail parsed within the limits (its HTML already converted when the text comes from it), or the limit it broke. */
export type BoundedParse = { ok: true; email: ParsedEmail } | { ok: false; code: 'content_limit' | 'undecodable_text'; reason: string };

const REPLACEMENT = '\ufffd';

function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && /call stack/i.test(error.message);
}

/**
 * The whole parse a mail may cost: the MIME limits by a linear scan first,
 * then the parse, then the HTML limits and conversion. Text that does not
 * decode (broken base64, 8-bit bytes that are not the declared or default
 * charset) is refused rather than sent as replacement characters.
 */
export async function parseEmailBounded(raw: Buffer, limits: ParseLimits): Promise<BoundedParse> {
  const mime = mimeLimitBroken(raw, limits.mime);
  if (mime) return { ok: false, code: 'content_limit', reason: mime };
  let email: ParsedEmail;
  try {
    email = await parseEmail(raw);
  } catch (error) {
    if (isStackOverflow(error)) return { ok: false, code: 'content_limit', reason: 'MIME structure too deep to parse' };
    throw error;
  }
  if ((email.text ?? '').includes(REPLACEMENT) || (email.subject ?? '').includes(REPLACEMENT)) {
    return { ok: false, code: 'undecodable_text', reason: 'text does not decode in its charset (broken base64 or 8-bit text without the right charset)' };
  }
  if (email.text?.trim() || !email.html) return { ok: true, email };
  const html = htmlLimitBroken(email.html, limits.html);
  if (html) return { ok: false, code: 'content_limit', reason: html };
  try {
    return { ok: true, email: { ...email, htmlText: htmlToText(email.html) } };
  } catch (error) {
    if (isStackOverflow(error)) return { ok: false, code: 'content_limit', reason: 'HTML nested too deep to convert' };
    throw error;
  }
}
