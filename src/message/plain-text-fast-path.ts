import { messageIdsIn, type ParsedEmail } from './email.js';

/*
 * A fast path for the mail alerting systems send most: one text/plain part in
 * UTF-8 or ASCII, 7bit/8bit, quoted-printable or base64, no encoded words in the
 * headers we read. It costs a fraction of a full MIME parse (mailparser, ~80 µs
 * for 1 KB here) on the reply path. Anything else returns undefined and takes
 * the full parse; test/plain-text-fast-path.test.ts holds both to the same output.
 */

const HEADER_END = Buffer.from('\r\n\r\n');

export function parseSimpleEmail(raw: Buffer): ParsedEmail | undefined {
  const end = raw.indexOf(HEADER_END);
  if (end === -1) return undefined;
  const headers = new Map<string, string>();
  let name = '';
  for (const line of raw.toString('utf8', 0, end).split('\r\n')) {
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (!name) return undefined;
      headers.set(name, `${headers.get(name) ?? ''} ${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    name = line.slice(0, colon).trim().toLowerCase();
    // A repeated header we read (two Content-Types, say) is left to the full parser.
    if (headers.has(name) && (name === 'content-type' || name === 'content-transfer-encoding' || name === 'subject' || name === 'message-id')) return undefined;
    headers.set(name, line.slice(colon + 1).trim());
  }

  const type = headers.get('content-type');
  if (type !== undefined) {
    const [mime = '', ...params] = type.split(';').map((part) => part.trim().toLowerCase());
    if (mime !== 'text/plain') return undefined;
    for (const param of params) {
      const [key = '', value = ''] = param.split('=').map((part) => part.trim().replace(/^"(.*)"$/, '$1'));
      if (key === 'charset' && value !== 'utf-8' && value !== 'us-ascii' && value !== 'utf8') return undefined;
      if (key === 'format' || key === 'delsp') return undefined;
    }
  }
  const subject = headers.get('subject');
  if (subject?.includes('=?')) return undefined;

  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  const body = raw.subarray(end + 4);
  let text: string;
  if (encoding === '7bit' || encoding === '8bit' || encoding === 'binary') text = body.toString('utf8');
  else if (encoding === 'quoted-printable') text = decodeQuotedPrintable(body);
  else if (encoding === 'base64') text = Buffer.from(body.toString('latin1'), 'base64').toString('utf8');
  else return undefined;
  if (text.includes('\ufffd')) return undefined; // not valid UTF-8: let the full parser guess

  const autoSubmitted = (headers.get('auto-submitted') ?? '').toLowerCase();
  const messageId = headers.get('message-id');
  return {
    messageId: messageId || undefined,
    subject,
    text: text.replace(/\r\n/g, '\n'),
    html: undefined,
    autoReply: autoSubmitted.startsWith('auto-replied') || headers.has('x-autoreply') || headers.has('x-autorespond'),
    sendAt: headers.get('x-sms-send-at') || undefined,
    notification: headers.get('x-mail2sms-notification') || undefined,
    threadIds: messageIdsIn(headers.get('in-reply-to'), headers.get('references')),
  };
}

function decodeQuotedPrintable(body: Buffer): string {
  const out = Buffer.allocUnsafe(body.length);
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i] as number;
    if (byte !== 0x3d /* = */) {
      out[o++] = byte;
      continue;
    }
    // Soft line break: "=" at the end of a line (trailing whitespace allowed).
    let j = i + 1;
    while (j < body.length && (body[j] === 0x20 || body[j] === 0x09)) j++;
    if (body[j] === 0x0d && body[j + 1] === 0x0a) {
      i = j + 1;
      continue;
    }
    if (body[j] === 0x0a) {
      i = j;
      continue;
    }
    const hex = body.toString('latin1', i + 1, i + 3);
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      out[o++] = parseInt(hex, 16);
      i += 2;
    } else {
      out[o++] = byte;
    }
  }
  return out.toString('utf8', 0, o);
}
