import { randomBytes } from 'node:crypto';
import type { Automation } from '../config/automations.js';
import type { Setup } from '../config/schema.js';
import type { InboundSmsInput } from '../inbound/handler.js';
import type { Ledger } from '../ledger/types.js';
import { maskNumber, type Logger } from '../core/log.js';
import { noMetrics, type Metrics } from '../core/metrics.js';
import type { Relay } from './relay.js';
import { buildReplyForward } from './reply.js';

/*
 * An inbound SMS that is not a keyword answers the last SMS we sent to that
 * number. If the setup behind that SMS has `forward_replies: true`, the reply
 * goes by email to whoever sent the mail that became the SMS. The inbound SMS
 * is already stored when this runs, so a reply that cannot be forwarded is
 * still in the ledger (inbound_messages).
 */

export type ReplyDecision = 'forwarded' | 'no_relay' | 'no_previous_sms' | 'setup_gone' | 'not_enabled' | 'no_reply_to' | 'relay_failed';

/** What forwarding reads of the config: each setup's switch, each automation's reply_to, and our names for the Reply-To. */
export interface ReplyForwardSettings {
  setups: readonly Pick<Setup, 'id' | 'forward_replies'>[];
  automations: readonly Pick<Automation, 'id' | 'reply_to'>[];
  /** smtp.hostname: the forward's Message-ID and, without sms_domains, its Reply-To domain. */
  hostname: string;
  smsDomains: readonly string[];
}

export interface ReplyForwarderDeps {
  ledger: Pick<Ledger, 'lastSmsTo' | 'noteReplyForward'>;
  /** Undefined when no notify block is configured: nothing can be forwarded. */
  relay: Relay | undefined;
  /** Read per reply, so a reload (forward_replies switched off, a reply_to changed) counts at once. */
  getSettings(): ReplyForwardSettings;
  logger: Logger;
  metrics?: Metrics;
}

export function createReplyForwarder(deps: ReplyForwarderDeps): (sms: InboundSmsInput, inboundId: number) => Promise<ReplyDecision> {
  const logger = deps.logger.child({ stage: 'notify' });
  const metrics = deps.metrics ?? noMetrics;

  return async (sms, inboundId) => {
    const log = logger.child({ inbound: inboundId, from: maskNumber(sms.from) });
    const decide = (decision: ReplyDecision, fields: Record<string, unknown>, message: string): ReplyDecision => {
      log.info({ decision, ...fields }, message);
      metrics.inc('mail2sms_notifications_total', { kind: 'reply', result: decision });
      return decision;
    };
    const last = await deps.ledger.lastSmsTo(sms.from);
    if (!last) return decide('no_previous_sms', {}, 'reply not forwarded: no SMS from an email or an automation was sent to this number');
    const about = { qid: last.queueId, setup: last.setupId, ...(last.automationId ? { automation: last.automationId } : {}) };
    // The setup as configured now: switching forward_replies off stops forwards at once, also for older SMS.
    const settings = deps.getSettings();
    const setup = settings.setups.find((s) => s.id === last.setupId);
    if (!setup) return decide('setup_gone', about, 'reply not forwarded: the setup of the last SMS is no longer configured');
    if (!setup.forward_replies) return decide('not_enabled', about, 'reply not forwarded: forward_replies is off for this setup');
    if (!deps.relay) return decide('no_relay', about, 'reply not forwarded: forward_replies is on but no notify relay is configured');
    const to = last.automationId === null ? last.mailFrom : settings.automations.find((a) => a.id === last.automationId)?.reply_to;
    if (!to) return decide('no_reply_to', about, 'reply not forwarded: it answers an automation that names no reply_to');
    // The token lets an answer to this forward skip the cooldown, and nothing else (ledger/conversation.ts).
    const token = randomBytes(16).toString('hex');
    await deps.ledger.noteReplyForward(inboundId, { token, mailTo: to, setupId: last.setupId });
    const mail = buildReplyForward({
      to,
      inboundId,
      token,
      host: settings.hostname,
      replyTo: `${sms.from}@${settings.smsDomains[0] ?? settings.hostname}`,
      from: sms.from,
      text: sms.text,
      receivedAt: sms.receivedAt,
      queueId: last.queueId,
      ...(last.headerMessageId ? { originalMessageId: last.headerMessageId } : {}),
      ...(last.subject ? { originalSubject: last.subject } : {}),
    });
    const result = await deps.relay.send(mail);
    if (result.ok) return decide('forwarded', { ...about, to }, 'reply forwarded by email');
    // No queue for forwards yet: the reply stays in the ledger, and the log says it was not delivered by email.
    log.warn({ ...about, to, temporary: result.temporary, reason: result.reason }, 'reply could not be forwarded; it is kept in the ledger only');
    return decide('relay_failed', about, 'reply not forwarded: the relay did not take it');
  };
}
