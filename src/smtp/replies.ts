import type { Acceptance, Refusal, RefusalCode } from '../core/errors.js';

/**
 * The one table of SMTP replies. smtp-server only adds enhanced status codes by
 * reply number (and we keep that off), so each reply carries its own RFC 3463 code.
 */
const REPLIES: Record<RefusalCode, { code: number; enhanced: string }> = {
  unknown_sender: { code: 550, enhanced: '5.7.1' },
  sender_not_authorised: { code: 550, enhanced: '5.7.1' },
  auth_required: { code: 530, enhanced: '5.7.0' },
  spf_failed: { code: 550, enhanced: '5.7.23' }, // RFC 7372: SPF validation failed
  dkim_failed: { code: 550, enhanced: '5.7.20' }, // RFC 7372: no passing DKIM signature found
  dns_temporary: { code: 451, enhanced: '4.4.3' }, // directory server failure
  auth_failed: { code: 535, enhanced: '5.7.8' },
  auth_locked: { code: 454, enhanced: '4.7.0' },
  connection_rate: { code: 421, enhanced: '4.7.0' },
  relay_denied: { code: 550, enhanced: '5.7.1' },
  not_a_number: { code: 550, enhanced: '5.1.3' },
  invalid_number: { code: 550, enhanced: '5.1.3' },
  country_not_allowed: { code: 550, enhanced: '5.7.1' },
  unknown_group: { code: 550, enhanced: '5.1.1' }, // bad destination mailbox: no such group
  group_not_allowed: { code: 550, enhanced: '5.7.1' },
  group_too_large: { code: 550, enhanced: '5.5.3' }, // too many recipients, permanently: the group is over max_group_size
  merge_failed: { code: 550, enhanced: '5.6.0' }, // merge fields: syntax, unknown filter, or a field recipients lack
  too_many_recipients: { code: 452, enhanced: '4.5.3' },
  message_too_large: { code: 552, enhanced: '5.3.4' },
  no_text: { code: 550, enhanced: '5.6.0' },
  too_long: { code: 550, enhanced: '5.3.4' },
  recipient_suppressed: { code: 550, enhanced: '5.7.1' }, // policy: opted out, no consent, cooldown, caps
  bad_send_at: { code: 554, enhanced: '5.6.0' }, // X-SMS-Send-At malformed, in the past or too far ahead
  content_limit: { code: 554, enhanced: '5.6.0' }, // MIME parts, nesting, HTML depth/size or parse time over a limit: the same mail always would be
  undecodable_text: { code: 554, enhanced: '5.6.0' }, // broken base64, or 8-bit text that is not in its charset
  notification_loop: { code: 550, enhanced: '5.7.1' }, // one of our own notifications came back: never an SMS
  postmaster_unavailable: { code: 451, enhanced: '4.3.0' }, // the relay cannot take the forward now; no queue, so the client keeps the mail
  postmaster_refused: { code: 550, enhanced: '5.3.0' }, // the relay refused the forward to the admin address
  storage_unavailable: { code: 451, enhanced: '4.3.0' },
  bad_sequence: { code: 503, enhanced: '5.5.1' },
  postmaster_rate: { code: 450, enhanced: '4.7.0' }, // over smtp.postmaster_rate mails for postmaster from outsiders this hour
  shutting_down: { code: 421, enhanced: '4.3.2' }, // system not accepting network messages: SIGTERM, the client retries later
  internal_error: { code: 451, enhanced: '4.3.0' },
};

export interface SmtpReplyError extends Error {
  responseCode: number;
}

/**
 * An Error smtp-server sends as the reply. `ref` is the transaction reference that
 * also stands on the log line, so a bounced sender can quote it.
 */
export function replyError(refusal: Refusal, ref: string): SmtpReplyError {
  const reply = REPLIES[refusal.code];
  return Object.assign(new Error(`${reply.enhanced} ${refusal.detail} [ref ${ref}]`), { responseCode: reply.code });
}

export function replyCode(code: RefusalCode): { code: number; enhanced: string } {
  return REPLIES[code];
}

/**
 * The 250s of DATA, from the same table's point of view: each names what
 * happened to the mail. Queue ids are what a sender quotes, so the two queued
 * answers carry the id instead of the session reference.
 */
export function acceptedReply(acceptance: Acceptance, ref: string): string {
  switch (acceptance.code) {
    case 'bounce_discarded':
      return `2.0.0 Bounce accepted and discarded [ref ${ref}]`;
    case 'bounce_for_postmaster':
      return `2.0.0 Bounce for postmaster accepted [ref ${ref}]`;
    case 'auto_reply_discarded':
      return `2.0.0 Auto-reply accepted and discarded [ref ${ref}]`;
    case 'postmaster_only':
      return `2.0.0 Accepted for postmaster [ref ${ref}]`;
    case 'queued':
      return `2.0.0 Queued as ${acceptance.queueId}${acceptance.note}`;
    case 'already_queued':
      return `2.0.0 Already queued as ${acceptance.queueId}`;
  }
}

/** A refusal as the full reply line (code, enhanced code, reason), as `explain` prints it. */
export function refusalLine(refusal: Refusal): string {
  const reply = REPLIES[refusal.code];
  return `${reply.code} ${reply.enhanced} ${refusal.detail}`;
}
