import type { EmailContent } from './text.js';

/** What the pipeline needs from a parsed email, typed once at the edge. */
export interface ParsedEmail extends EmailContent {
  messageId: string | undefined;
  /** Vacation and out-of-office replies; `auto-generated` (alerting systems) is not one. */
  autoReply: boolean;
  /** X-SMS-Send-At as written: a later send asked for. */
  sendAt: string | undefined;
  /** X-Mail2sms-Notification: mail that mail2sms itself sent (a report, a forward), never to be sent as SMS. */
  notification: string | undefined;
  /** The Message-IDs this mail answers (In-Reply-To, then References), with angle brackets. */
  threadIds: string[];
}

/** Message-IDs written in a header (In-Reply-To, References): each `<id@host>`, in order, once. */
export function messageIdsIn(...values: (string | string[] | undefined)[]): string[] {
  const ids = values.flat().flatMap((value) => (value ?? '').match(/<[^<>\s]+>/g) ?? []);
  return [...new Set(ids)].slice(0, 50);
}
