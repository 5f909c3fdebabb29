import { replyThreadId } from '../message/conversation.js';
import { angleId, isoTime, oneLine, type OutgoingMail } from './mail.js';

export interface ReplyForwardInput {
  /** Envelope sender of the mail behind the last SMS to this number. */
  to: string;
  /** The number that answered, E.164. */
  from: string;
  /** The SMS text as received. */
  text: string;
  /** Epoch milliseconds when the inbound SMS arrived. */
  receivedAt: number;
  originalMessageId?: string;
  originalReferences?: string[];
  originalSubject?: string;
  /** Queue id of the mail whose SMS was answered. */
  queueId: string;
  /** The inbound SMS being forwarded: named in our Message-ID, so an answer to this mail is recognised. */
  inboundId: number;
  /** This forward's random token, also in the Message-ID; the ledger keeps it to recognise a true answer. */
  token: string;
  /** Our host name (smtp.hostname), for the Message-ID. */
  host: string;
  /** The number's SMS address (<number>@<sms domain>): answering the email sends an SMS back. */
  replyTo: string;
}

/** Long threads: keep the root and the latest ids, which is what threading clients use (RFC 5322 §3.6.4). */
const MAX_REFERENCES = 20;

function trimReferences(ids: string[]): string[] {
  return ids.length <= MAX_REFERENCES ? ids : [ids[0] as string, ...ids.slice(-(MAX_REFERENCES - 1))];
}

/** Reply prefixes mail clients add, in the languages our senders write (Re, Aw, SV, VS, Antw, Odp, R). */
const REPLY_PREFIX = /^\s*(re|aw|sv|vs|antw|odp|r)\s*(\[\d+\]|\(\d+\))?\s*:\s*/i;

function replySubject(original: string | undefined, from: string): string {
  let subject = oneLine(original);
  for (let previous = ''; previous !== subject; ) {
    previous = subject;
    subject = subject.replace(REPLY_PREFIX, '');
  }
  return subject ? `Re: ${subject}` : `SMS reply from ${from}`;
}

/**
 * An SMS that answers one of ours, forwarded by email to whoever sent the mail
 * behind that SMS, threaded under it.
 *
 * Not a null sender: this is a person's message, relayed, not a report about a
 * mail. If it cannot be delivered the bounce must reach someone (our `from`
 * mailbox, where an admin can see the reply was lost) rather than vanish, and
 * RFC 5321 §4.5.5 keeps the null sender for delivery reports. Loops are stopped
 * by `Auto-Submitted: auto-replied` (vacation responders stay silent, and our
 * intake drops auto-replies) and the X-Mail2sms-Notification header.
 */
export function buildReplyForward(input: ReplyForwardInput): OutgoingMail {
  const original = angleId(input.originalMessageId);
  const references = [...new Set([...(input.originalReferences ?? []), ...(original ? [original] : [])].map(angleId).filter((id): id is string => id !== undefined))];
  const about = oneLine(input.originalSubject);
  const text = [
    `${input.from} answered by SMS at ${isoTime(input.receivedAt)}:`,
    '',
    input.text,
    '',
    '--',
    `This answers the SMS from ${about ? `your mail "${about}"` : 'your mail'} (queue id ${input.queueId}), forwarded by mail2sms.`,
    `Reply to this email to answer ${input.from} by SMS.`,
    '',
  ].join('\n');
  return {
    kind: 'reply',
    to: input.to,
    fromName: `SMS from ${input.from}`,
    subject: replySubject(input.originalSubject, input.from),
    text,
    messageId: replyThreadId(input.inboundId, input.token, input.host),
    replyTo: input.replyTo,
    ...(original ? { inReplyTo: original } : {}),
    ...(references.length > 0 ? { references: trimReferences(references) } : {}),
    nullSender: false,
    autoSubmitted: 'auto-replied',
    headers: { 'X-Mail2sms-Queue-Id': input.queueId, 'X-Mail2sms-Sms-From': input.from },
  };
}
