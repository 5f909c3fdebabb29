/*
 * What every email mail2sms sends looks like, before it meets SMTP. The builders
 * (report, reply, postmaster) are pure and return an OutgoingMail; the relay is
 * the only part that talks to a server.
 */

/** Which notification this is; the value of the X-Mail2sms-Notification header. */
export type NotificationKind = 'report' | 'reply' | 'postmaster';

/**
 * Set on every mail we send, so our own intake (and an admin reading headers) can
 * recognise a notification that came back, and refuse it instead of looping.
 */
export const NOTIFICATION_HEADER = 'X-Mail2sms-Notification';

export interface OutgoingAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
}

export interface OutgoingMail {
  kind: NotificationKind;
  /** One recipient per mail: each notification has exactly one reader. */
  to: string;
  /** Display name for the From header; the address is the relay's `from`. */
  fromName?: string;
  subject: string;
  text: string;
  /** Our own Message-ID, when an answer to this mail must be recognised (`<id@host>`). */
  messageId?: string;
  /** Where an answer goes: for a forwarded SMS reply, the number's SMS address. */
  replyTo?: string;
  /** Message-IDs with their angle brackets (`<id@host>`). */
  inReplyTo?: string;
  references?: string[];
  /** Envelope MAIL FROM:<> (reports): nothing may bounce back to a bounce-like message. */
  nullSender: boolean;
  /** Defaults to auto-generated at the relay; a notification never goes out without it. */
  autoSubmitted?: 'auto-generated' | 'auto-replied';
  headers?: Record<string, string>;
  attachments?: OutgoingAttachment[];
}

/** Returns true when a header value (from a parsed inbound mail) marks one of our notifications. */
export function isNotificationHeader(value: string | undefined): boolean {
  return value !== undefined && /^\s*(report|reply|postmaster)\s*$/i.test(value);
}

/** `id@host` or `<id@host>` → `<id@host>`; empty or unusable → undefined. */
export function angleId(id: string | undefined): string | undefined {
  const bare = (id ?? '').trim().replace(/^<+/, '').replace(/>+$/, '').trim();
  if (bare === '' || /[\s<>]/.test(bare)) return undefined;
  return `<${bare}>`;
}

/** A header value on one line: an original subject may carry folded or hostile line breaks. */
export function oneLine(text: string | undefined, max = 200): string {
  const flat = (text ?? '').replace(/[\r\n\t]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

/** Epoch milliseconds → ISO 8601 in UTC (what the reader's mail client cannot misread as local time). */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
