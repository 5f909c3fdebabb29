import { simpleParser, type HeaderValue } from 'mailparser';
import { messageIdsIn, type ParsedEmail } from './email.js';
import { parseSimpleEmail } from './plain-text-fast-path.js';

export type { ParsedEmail };


function headerText(value: HeaderValue | undefined): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && 'value' in value && typeof value.value === 'string') return value.value;
  return String(value);
}

/** The full MIME parse (mailparser): every structure, charset and encoding. */
export async function parseEmailFully(raw: Buffer, depth = 0): Promise<ParsedEmail> {
  const mail = await simpleParser(raw, {
    skipTextToHtml: true,
    // `text` must be the text/plain content only; HTML is converted by src/message/html.ts.
    skipHtmlToText: true,
    skipImageLinks: true,
    skipTextLinks: true,
    keepCidLinks: false,
  });
  const autoSubmitted = headerText(mail.headers.get('auto-submitted')).toLowerCase();
  let text = mail.text;
  let html = typeof mail.html === 'string' ? mail.html : undefined;
  // A forwarded mail with no note of its own: its text is the forwarded message's.
  const forwarded = mail.attachments.find((a) => a.contentType === 'message/rfc822');
  if (!text?.trim() && !html && forwarded && depth < 3) {
    const inner = await parseEmailFully(forwarded.content, depth + 1);
    text = inner.text;
    html = inner.html;
  }
  return {
    messageId: mail.messageId?.trim() || undefined,
    subject: mail.subject,
    text,
    html,
    autoReply: autoSubmitted.startsWith('auto-replied') || mail.headers.has('x-autoreply') || mail.headers.has('x-autorespond'),
    sendAt: headerText(mail.headers.get('x-sms-send-at')).trim() || undefined,
    notification: headerText(mail.headers.get('x-mail2sms-notification')).trim() || undefined,
    // mailparser strips the brackets of a single id; put them back so both parsers agree.
    threadIds: messageIdsIn(...[mail.inReplyTo, mail.references].flat().map((id) => (id && !id.includes('<') ? `<${id.trim()}>` : id))),
  };
}

/** Simple single-part mail takes the fast path; everything else the full parse. */
export function parseEmail(raw: Buffer): Promise<ParsedEmail> {
  const simple = parseSimpleEmail(raw);
  return simple ? Promise.resolve(simple) : parseEmailFully(raw);
}
