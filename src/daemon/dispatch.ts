import type { OptOutGate } from '../consent/gate.js';
import type { Metrics } from '../core/metrics.js';
import { createDispatcher, type Dispatcher } from '../dispatch/worker.js';
import type { DispatcherElection } from '../ledger/backend.js';
import type { SmsProvider } from '../providers/types.js';
import { RECEIPTS_PATH } from '../http/server.js';
import type { OpenedLedger } from './ledger.js';
import { every, type Wiring } from './steps.js';

/** The dispatcher, woken by queued rows; with several daemons on PostgreSQL and a rate limit, only the elected one sends. */
export function startDispatchStep(wiring: Wiring, deps: { opened: OpenedLedger; provider: SmsProvider; publicUrl: string; metrics: Metrics; gate: OptOutGate }): Dispatcher {
  const d = wiring.config().main.dispatch;
  const { opened } = deps;
  // A provider rate limit is one budget for the organisation: with several daemons, one elected daemon dispatches.
  const election = opened.election && d.rate_limit > 0 ? opened.election : undefined;
  const dispatcher = createDispatcher({
    ledger: opened.ledger,
    provider: deps.provider,
    clock: wiring.clock,
    logger: wiring.logger.child({ stage: 'dispatch' }),
    callbackUrl: deps.publicUrl + RECEIPTS_PATH,
    concurrency: d.concurrency,
    pollIntervalMs: d.poll_interval,
    leaseMs: d.lease,
    maxAttempts: d.max_attempts,
    retryBaseMs: d.retry_base,
    retryMaxMs: d.retry_max,
    maxRetryAgeMs: d.max_retry_age,
    ratePerSecond: d.rate_limit,
    metrics: deps.metrics,
    gate: deps.gate,
    ...(opened.guardSend ? { guard: opened.guardSend } : {}),
    ...(election ? { mayDispatch: election.isLeader } : {}),
  });
  opened.ledger.onQueued((dueAt) => dispatcher.wake(dueAt));
  dispatcher.start();
  wiring.steps.add('dispatch', () => dispatcher.stop(d.shutdown_timeout));
  if (election) startElection(wiring, election, Math.min(d.poll_interval, 1000), () => dispatcher.wake());
  return dispatcher;
}

/** Tries for the dispatcher lock every `everyMs` until it has it; says so when it is won or lost. */
function startElection(wiring: Wiring, election: DispatcherElection, everyMs: number, onElected: () => void): void {
  let was = false;
  let announced = false;
  const tick = async () => {
    const now = await election.tryLead();
    if (now && !was) {
      wiring.logger.info('elected dispatcher: this daemon sends for the organisation (dispatch.rate_limit)');
      onElected();
    } else if (!now && was) {
      wiring.logger.warn('no longer the elected dispatcher');
    } else if (!now && !was && !announced) {
      announced = true;
      wiring.logger.info('another daemon is the elected dispatcher; this one takes over if it goes away');
    }
    was = now;
  };
  void tick();
  every(wiring, 'dispatcher election', everyMs, () => void tick());
}
