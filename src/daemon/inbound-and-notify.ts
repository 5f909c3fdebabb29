import type { Config } from '../config/load.js';
import type { OptOutGate } from '../consent/gate.js';
import type { Metrics } from '../core/metrics.js';
import { createInboundHandler } from '../inbound/handler.js';
import type { Ledger } from '../ledger/types.js';
import { createRelay, type Relay } from '../notify/relay.js';
import { createReplyForwarder, type ReplyForwardSettings } from '../notify/reply-forwarder.js';
import { createReporter } from '../notify/reporter.js';
import type { Wiring } from './steps.js';

export interface InboundAndNotify {
  /** Outgoing email (reports, reply and postmaster forwards), when notify.relay is configured. */
  relay?: Relay;
  handleInbound: ReturnType<typeof createInboundHandler>;
}

/**
 * The relay and the inbound SMS handler. The relay is created once (changing
 * notify.relay needs a restart) and closed after dispatch and before the
 * ledger (steps stop in reverse), once nothing that sends through it runs.
 */
export function createInboundAndNotify(wiring: Wiring, deps: { ledger: Ledger; gate: OptOutGate; metrics: Metrics }): InboundAndNotify {
  const notify = wiring.config().main.notify;
  const relay = notify ? createRelay(notify.relay, { logger: wiring.logger }) : undefined;
  if (relay) wiring.steps.add('relay', () => relay.close());
  const forwardReply = createReplyForwarder({ ledger: deps.ledger, relay, getSettings: () => replyForwardSettings(wiring.config()), logger: wiring.logger, metrics: deps.metrics });
  const handleInbound = createInboundHandler({
    ledger: deps.ledger,
    getSettings: () => wiring.config().main.consent,
    gate: deps.gate,
    logger: wiring.logger,
    clock: wiring.clock,
    metrics: deps.metrics,
    onReply(sms, inboundId) {
      // The webhook is answered without waiting: the reply is stored, and the relay may take up to its timeout.
      forwardReply(sms, inboundId).catch((error: unknown) => wiring.logger.error({ err: error, inbound: inboundId }, 'reply forwarding failed'));
    },
  });
  return { ...(relay ? { relay } : {}), handleInbound };
}

/** What reply forwarding reads of the config in force. */
export function replyForwardSettings(config: Config): ReplyForwardSettings {
  return { setups: config.setups, automations: config.automations, hostname: config.main.smtp.hostname, smsDomains: config.main.sms_domains };
}

/** Delivery reports by email, when a relay is configured. */
export function startReporterStep(wiring: Wiring, deps: { ledger: Ledger; relay: Relay | undefined; metrics: Metrics }): void {
  if (!deps.relay) return;
  const reporter = createReporter({ ledger: deps.ledger, relay: deps.relay, getSettings: () => wiring.config().main.notify, clock: wiring.clock, logger: wiring.logger, metrics: deps.metrics });
  reporter.start();
  wiring.steps.add('reporter', () => reporter.stop());
}
