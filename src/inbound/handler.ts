import type { MainConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import { maskNumber, type Logger } from '../core/log.js';
import type { InboundOutcome, Ledger } from '../ledger/types.js';
import { measureSms } from '../message/encoding.js';
import { transliterate } from '../message/transliterate.js';
import { noMetrics, type Metrics } from '../core/metrics.js';
import { classifyInbound } from '../consent/keywords.js';
import type { OptOutGate } from '../consent/gate.js';

/*
 * An inbound SMS, after the provider adapter verified and parsed it: classify
 * the keyword, record the message and its consent change in one commit, and
 * queue the answer (confirmation, help). A reply that is not a keyword goes
 * to `onReply` (forwarding by email).
 */

export interface InboundSmsInput {
  providerId: string;
  /** E.164 */
  from: string;
  to: string | undefined;
  text: string;
  receivedAt: number;
}

export interface InboundHandlerDeps {
  ledger: Ledger;
  /** consent as in force now (keywords, answers, reply_sender): a reload changes them. */
  getSettings(): MainConfig['consent'];
  gate: OptOutGate;
  logger: Logger;
  clock: Clock;
  metrics?: Metrics;
  /** A reply that is not a keyword (after it is stored). */
  onReply?(sms: InboundSmsInput, inboundId: number): void;
}

export function createInboundHandler(deps: InboundHandlerDeps): (sms: InboundSmsInput) => Promise<InboundOutcome> {
  const metrics = deps.metrics ?? noMetrics;
  const logger = deps.logger.child({ stage: 'inbound' });

  return async (sms) => {
    const consent = deps.getSettings();
    const classification = classifyInbound(sms.text, consent.keywords);
    const log = logger.child({ from: maskNumber(sms.from), providerId: sms.providerId });
    const answerText =
      classification.kind === 'opt_in' ? consent.confirmation_text : classification.kind === 'help' ? consent.help_text : classification.kind === 'opt_out' ? (consent.opt_out_confirmation_text ?? '') : '';
    let reply: { senderName: string; text: string; measure: ReturnType<typeof measureSms> } | undefined;
    if (answerText && consent.reply_sender) {
      const text = transliterate(answerText);
      reply = { senderName: consent.reply_sender, text, measure: measureSms(text) };
    } else if (answerText) {
      log.info({ keyword: classification.keyword }, 'no answer sent: consent.reply_sender is not configured');
    }

    // Closed before the commit is asked for: see gate.ts.
    if (classification.kind === 'opt_out') deps.gate.close(sms.from);
    let outcome: InboundOutcome;
    try {
      outcome = await deps.ledger.recordInbound({
        ...sms,
        kind: classification.kind,
        ...(classification.keyword ? { keyword: classification.keyword } : {}),
        ...(reply ? { reply } : {}),
      });
    } finally {
      if (classification.kind === 'opt_out') deps.gate.settle(sms.from);
    }
    if (classification.kind === 'opt_in') deps.gate.open(sms.from);
    metrics.inc('mail2sms_inbound_total', { kind: classification.kind, duplicate: String(outcome.duplicate) });
    if (outcome.duplicate) {
      log.info({ inbound: outcome.inboundId }, 'inbound SMS already received; nothing done again');
      return outcome;
    }
    log.info(
      { inbound: outcome.inboundId, kind: classification.kind, keyword: classification.keyword, consentEvent: outcome.consentEventId, answer: outcome.replyQueueId },
      classification.kind === 'none' ? 'inbound SMS (no keyword)' : `inbound keyword: ${outcome.action}`,
    );
    if (classification.kind === 'none') deps.onReply?.(sms, outcome.inboundId);
    return outcome;
  };
}
