import { timingSafeEqual } from 'node:crypto';
import type { ReplyThread } from '../message/conversation.js';

/*
 * "Does this mail continue the conversation a phone started?" One answer for
 * both backends' intake and for explain. A mail may skip its setup's cooldown
 * only when it answers the exact forward of an inbound SMS: it names that
 * forward's token (compared in constant time), comes from the address the reply
 * was forwarded to, through the setup behind the SMS that was answered, goes to
 * the number that wrote and nobody else, within a day of the SMS.
 */

/** How long after an SMS reply an email answering it is still a conversation. */
export const CONVERSATION_WINDOW_MS = 24 * 3_600_000;

/** What the ledger holds about an inbound SMS and the email it was forwarded in. */
export interface ForwardedReply {
  sender: string;
  receivedAt: number;
  /** Null when the SMS was never forwarded (no thread can answer it). */
  forwardToken: string | null;
  forwardMailTo: string | null;
  forwardSetup: string | null;
}

export interface ConversationClaim {
  thread: ReplyThread;
  recipients: readonly string[];
  mailFrom: string;
  setupId: string;
}

function sameToken(stored: string, offered: string): boolean {
  const a = Buffer.from(stored);
  const b = Buffer.from(offered);
  // The length is no secret (every token has the same); the bytes are compared in constant time.
  return a.length === b.length && timingSafeEqual(a, b);
}

export function continuesConversation(forward: ForwardedReply | undefined, claim: ConversationClaim, now: number): boolean {
  if (!forward || forward.forwardToken === null || claim.recipients.length !== 1) return false;
  if (forward.sender !== claim.recipients[0] || now - forward.receivedAt > CONVERSATION_WINDOW_MS) return false;
  if (forward.forwardSetup !== claim.setupId || forward.forwardMailTo?.toLowerCase() !== claim.mailFrom.toLowerCase()) return false;
  return sameToken(forward.forwardToken, claim.thread.token);
}
