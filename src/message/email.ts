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
}
