import { isoTime, oneLine, type OutgoingMail } from './mail.js';

export interface PostmasterForwardInput {
  /** The admin address mail for postmaster goes to. */
  admin: string;
  /** MAIL FROM as received; '' for a null sender (a bounce). */
  envelopeFrom: string;
  /** The RCPT TO addresses that were postmaster (there may be one per SMS domain). */
  rcpt: string[];
  clientIp: string;
  /** The message exactly as received after DATA. */
  raw: Buffer;
  /** Epoch milliseconds. */
  receivedAt: number;
  /** The Subject header, when intake has parsed it; only for the forward's subject line. */
  originalSubject?: string;
}

/**
 * Mail to postmaster@<sms domain> (RFC 5321 §4.5.1 says we must accept it),
 * forwarded to the admin unchanged as a message/rfc822 attachment, so headers
 * and MIME structure are there to read, with the envelope, which the message
 * itself does not carry.
 *
 * A real envelope sender (our `from`): RFC 5321 §4.5.5 keeps the null sender for
 * delivery reports, and an admin address that bounces should be noticed. The
 * bounce goes to `from`, which the config schema keeps from being a postmaster
 * address, so it cannot come back here and loop.
 */
export function buildPostmasterForward(input: PostmasterForwardInput): OutgoingMail {
  const sender = input.envelopeFrom === '' ? '<>' : `<${input.envelopeFrom}>`;
  const about = oneLine(input.originalSubject);
  const text = [
    'Mail for postmaster, received by mail2sms and attached unchanged.',
    '',
    `Envelope sender: ${sender}${input.envelopeFrom === '' ? ' (a bounce or other delivery report)' : ''}`,
    `Recipients:      ${input.rcpt.map((r) => `<${r}>`).join(', ')}`,
    `Client address:  ${input.clientIp}`,
    `Received:        ${isoTime(input.receivedAt)}`,
    `Size:            ${input.raw.length} bytes`,
    '',
  ].join('\n');
  return {
    kind: 'postmaster',
    to: input.admin,
    fromName: 'mail2sms postmaster',
    subject: `Postmaster mail from ${sender}${about ? `: ${about}` : ''}`,
    text,
    nullSender: false,
    autoSubmitted: 'auto-generated',
    attachments: [{ filename: 'original.eml', contentType: 'message/rfc822', content: input.raw }],
  };
}
