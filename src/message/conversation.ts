/*
 * A forwarded SMS reply has a Message-ID that names the inbound SMS it
 * carries and a random token. When the person answers that email, their mail's
 * In-Reply-To or References names it again, and intake may treat the mail as
 * continuing a conversation the phone started (the setup's cooldown does not
 * hold the answer back; an opt-out always does). Which forward it really is,
 * the ledger decides: the token, the address and the setup it was forwarded to
 * (ledger/conversation.ts). Only ids under our own host name are read at all.
 */

const THREAD_ID = /^<sms-reply\.(\d{1,15})\.([A-Za-z0-9]{1,64})@([^<>\s]+)>$/;

/** The forward a mail says it answers: the inbound SMS's id and the forward's token. */
export interface ReplyThread {
  inboundId: number;
  token: string;
}

/** The Message-ID of the forward of inbound SMS `inboundId`. */
export function replyThreadId(inboundId: number, token: string, host: string): string {
  return `<sms-reply.${inboundId}.${token}@${host}>`;
}

/** The forward a mail answers, from its In-Reply-To / References, if one names our host. */
export function answeredThread(threadIds: readonly string[], host: string): ReplyThread | undefined {
  const ours = host.toLowerCase();
  for (const id of threadIds) {
    const match = THREAD_ID.exec(id);
    if (match && match[3]!.toLowerCase() === ours) return { inboundId: Number(match[1]), token: match[2]! };
  }
  return undefined;
}
