import type { Clock } from '../core/clock.js';
import type { NotifyConfig } from '../config/notify.js';
import type { Logger } from '../core/log.js';
import type { DueReport, Ledger } from '../ledger/types.js';
import { noMetrics, type Metrics } from '../core/metrics.js';
import type { Relay } from './relay.js';
import { buildReport } from './report.js';

/*
 * Sends the delivery reports setups ask for (`report: failures | all`). The
 * ledger says which mails are due (every outcome is in, or the receipts are
 * overdue); this sends one report per mail and marks it done. The ledger is the
 * queue: a report the relay cannot take now simply stays due.
 */

export interface ReporterDeps {
  ledger: Pick<Ledger, 'dueReports' | 'markReported'>;
  relay: Relay;
  /** notify as in force now (undefined: no notify block): the batch delay and the receipt timeout follow a reload. */
  getSettings(): Pick<NotifyConfig, 'report_timeout' | 'report_batch_delay'> | undefined;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
  /** Reports per round (default 50); a full round is followed by another at once. */
  batchSize?: number;
}

export interface Reporter {
  start(): void;
  /** Stops the rounds and waits for the one in progress (its sends end within the relay's timeout). */
  stop(): Promise<void>;
  /** One round now; resolves with the number of due reports looked at. For tests: not while started (two rounds at once could send a report twice). */
  runOnce(): Promise<number>;
}

/** `report_batch_delay` when the config has a notify block (it does whenever a reporter runs). */
const DEFAULT_DELAY_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 3_600_000;

export function createReporter(deps: ReporterDeps): Reporter {
  const log = deps.logger.child({ stage: 'notify' });
  const metrics = deps.metrics ?? noMetrics;
  const batchSize = deps.batchSize ?? 50;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let current: Promise<void> | undefined;

  /** Sends one report; 'retry' leaves it due (the relay cannot take mail now). */
  async function report(due: DueReport): Promise<'done' | 'retry'> {
    const qlog = log.child({ qid: due.queueId });
    const mail = buildReport({
      to: due.mailFrom,
      ...(due.headerMessageId ? { originalMessageId: due.headerMessageId } : {}),
      ...(due.subject ? { originalSubject: due.subject } : {}),
      queueId: due.queueId,
      setupId: due.setupId,
      mode: due.mode,
      outcomes: due.outcomes.map((o) => ({ recipient: o.recipient, status: o.status, at: o.at, ...(o.reason ? { reason: o.reason } : {}), ...(o.groups ? { group: o.groups.replaceAll(',', ', ') } : {}) })),
    });
    if (!mail) {
      // Mode `failures` with every SMS delivered, or a sender that must never get automatic mail (<>, postmaster@).
      await deps.ledger.markReported(due.queueId, 'no report needed');
      qlog.info({ mode: due.mode, to: due.mailFrom }, 'no report needed');
      metrics.inc('mail2sms_notifications_total', { kind: 'report', result: 'not_needed' });
      return 'done';
    }
    const result = await deps.relay.send(mail);
    if (result.ok) {
      await deps.ledger.markReported(due.queueId, `sent to ${mail.to} as ${result.messageId}`);
      qlog.info({ mode: due.mode, to: mail.to, recipients: due.outcomes.length }, 'report sent');
      metrics.inc('mail2sms_notifications_total', { kind: 'report', result: 'sent' });
      return 'done';
    }
    if (result.temporary) {
      qlog.warn({ to: mail.to, reason: result.reason }, 'report not sent; it stays due for the next round');
      metrics.inc('mail2sms_notifications_total', { kind: 'report', result: 'deferred' });
      return 'retry';
    }
    // The relay refused this very mail: sending it again would be refused again, forever.
    await deps.ledger.markReported(due.queueId, `refused by the relay: ${result.reason}`);
    qlog.error({ to: mail.to, reason: result.reason }, 'report refused by the relay; given up');
    metrics.inc('mail2sms_notifications_total', { kind: 'report', result: 'refused' });
    return 'done';
  }

  /** One round; `more` when it filled its batch and the relay is taking mail, so another may follow at once. */
  async function round(): Promise<{ looked: number; more: boolean }> {
    const timeoutMs = deps.getSettings()?.report_timeout ?? DEFAULT_TIMEOUT_MS;
    const due = await deps.ledger.dueReports(batchSize, deps.clock.now() - timeoutMs);
    let looked = 0;
    // One at a time: reports are few, and a relay that cannot take one now will not take the next either.
    for (const item of due) {
      looked++;
      if ((await report(item)) === 'retry') return { looked, more: false };
    }
    return { looked, more: due.length >= batchSize };
  }

  function schedule(delayMs: number): void {
    if (!running) return;
    timer = setTimeout(() => {
      timer = undefined;
      current = round()
        .catch((error: unknown) => {
          log.error({ err: error }, 'report round failed; trying again next round');
          return { looked: 0, more: false };
        })
        .then(({ more }) => {
          current = undefined;
          schedule(more ? 0 : (deps.getSettings()?.report_batch_delay ?? DEFAULT_DELAY_MS));
        });
    }, delayMs);
  }

  return {
    start() {
      if (running) return;
      running = true;
      schedule(deps.getSettings()?.report_batch_delay ?? DEFAULT_DELAY_MS);
    },
    async stop() {
      running = false;
      clearTimeout(timer);
      timer = undefined;
      await current;
    },
    runOnce: async () => (await round()).looked,
  };
}
