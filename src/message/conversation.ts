/*
 * A forwarded SMS reply has a Message-ID that names the inbound SMS it
 * carries. When the person answers that email, their mail's In-Reply-To or
 * References names it again, and intake knows the mail continues a
 * conversation the phone started (so the setup's cooldown does not hold the
 * answer back; an opt-out always does).
 */

const THREAD_ID = /^<sms-reply\.(\d+)\.[A-Za-z0-9]+@[^<>\s]+>$/;

/** The Message-ID of the forward of inbound SMS `inboundId`. */
export function replyThreadId(inboundId: number, token: string, host: string): string {
  return `<sms-reply.${inboundId}.${token}@${host}>`;
}

/** The inbound SMS a mail answers, from its In-Reply-To / References, if any. */
export function answeredInbound(threadIds: readonly string[]): number | undefined {
  for (const id of threadIds) {
    const match = THREAD_ID.exec(id);
    if (match) return Number(match[1]);
  }
  return undefined;
}
