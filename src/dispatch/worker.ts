import type { Clock } from '../core/clock.js';
import { maskNumber, type Logger } from '../core/log.js';
import type { ClaimedSms, Ledger } from '../ledger/types.js';
import type { SendResult, SmsProvider } from '../providers/types.js';
import { noMetrics, secondsSince, type Metrics } from '../core/metrics.js';
import { createPacer } from './pace.js';

export interface DispatcherOptions {
  ledger: Ledger;
  provider: SmsProvider;
  clock: Clock;
  logger: Logger;
  /** Receipts URL handed to the provider with each send. */
  callbackUrl: string;
  concurrency: number;
  pollIntervalMs: number;
  leaseMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  /** Longest wait between attempts (default 5 min). */
  retryMaxMs?: number;
  /** Temporary failures stop being retried this long after the row was accepted (default 24 h). */
  maxRetryAgeMs?: number;
  /** Provider-wide sends per second; 0 = no limit. */
  ratePerSecond?: number;
  metrics?: Metrics;
  random?: () => number;
  /** Checked in the same step that starts the provider call: a number whose opt-out is being committed is not sent to. */
  gate?: { isClosed(recipient: string): boolean };
  /**
   * Wraps each provider call when several daemons share the ledger: the call
   * runs only if the number is not opted out, under the number's lock, so an
   * opt-out committed by any daemon stops every later call (PostgreSQL's guardSend).
   */
  guard?: <T>(recipient: string, send: () => Promise<T>) => Promise<{ sent: true; value: T } | { sent: false }>;
  /** False while another daemon is the elected dispatcher (a provider rate limit shared by several daemons). */
  mayDispatch?: () => boolean;
}

export interface Dispatcher {
  start(): void;
  /**
   * Something was queued: look for due rows now rather than at the next poll.
   * `dueAt` (epoch ms) is when the earliest of them is due: rows due after the
   * next look already armed need no look of their own (a scheduled mail).
   */
  wake(dueAt?: number): void;
  /** Stops claiming and waits for in-flight sends (up to timeoutMs); unfinished leases expire and are retried later. */
  stop(timeoutMs?: number): Promise<void>;
  inFlight(): number;
  /** 'ok' while the provider's last answer was one (or none was asked yet); else why its calls fail, for /healthz. */
  providerState(): string;
}

/**
 * Claims due outbox rows as leases and sends them. The lease is what makes a
 * crash safe: a row left in `sending` by a dead process is claimed again after
 * its lease ends and resent with the same idempotency key.
 */
export function createDispatcher(options: DispatcherOptions): Dispatcher {
  let providerTrouble: { reason: string; since: number; calls: number } | undefined;
  const { ledger, provider, clock, logger } = options;
  const random = options.random ?? Math.random;
  const metrics = options.metrics ?? noMetrics;
  let running = false;
  let pumping = false;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const active = new Set<Promise<void>>();

  const retryMaxMs = options.retryMaxMs ?? 300_000;
  const maxRetryAgeMs = options.maxRetryAgeMs ?? 86_400_000;
  function backoff(attempt: number): number {
    const base = Math.min(retryMaxMs, options.retryBaseMs * 2 ** Math.min(attempt - 1, 16));
    return Math.min(retryMaxMs, Math.round(base / 2 + random() * base)); // jitter: 50–150 %, capped
  }

  /**
   * Resolves when the provider has answered, which frees the slot; what the
   * ledger records about it commits with the next group commit. If the process
   * dies before that, the lease expires and the same idempotency key is sent again.
   */
  async function sendOne(sms: ClaimedSms, leaseEnd: number): Promise<void> {
    // Fields, not a child logger: a child per SMS would serialise its bindings for at most two lines. Written
    // out in each literal: a leading spread ({ ...ids, … }) costs a hidden class per object in V8 (Node 20).
    if (!sms.confirmsOptOut && options.gate?.isClosed(sms.recipient)) {
      // Back to the queue: the next claim sees the committed opt-out and
      // suppresses the row, or sends it if the opt-out could not be stored.
      logger.debug({ qid: sms.queueId, outbox: sms.outboxId, to: maskNumber(sms.recipient) }, 'opt-out being recorded for this number; not sending');
      metrics.inc('mail2sms_dispatch_total', { result: 'held_for_opt_out' });
      await ledger.releaseClaim(sms.outboxId, 'an opt-out for this number was being recorded', clock.now() + 1000);
      return;
    }
    if (sms.leaseExpired && !provider.idempotent && sms.onUnknown === 'fail') {
      // The last claim ended without a recorded outcome (a crash mid-send): it may have been sent. At most once.
      const reason = `the previous attempt's lease expired without an outcome (the daemon stopped mid-send?): it may or may not have been sent, and ${provider.name} has no idempotency (on_unknown: fail)`;
      metrics.inc('mail2sms_dispatch_total', { result: 'unknown' });
      logger.warn({ qid: sms.queueId, outbox: sms.outboxId, reason, attempt: sms.attempt }, 'send outcome unknown; not retried (on_unknown: fail)');
      await ledger.recordUnknown(sms.outboxId, reason);
      return;
    }
    let calling = performance.now();
    let called = false;
    // Timed from when the call starts: a guard may first wait for the number's lock.
    // The rate limit counts here too, under the guard, as the provider counts the call.
    const call = async () => {
      const place = await startAllowed();
      calling = performance.now();
      called = true;
      try {
        return await provider.send({
          to: sms.recipient,
          from: sms.senderName,
          text: sms.text,
          idempotencyKey: sms.idempotencyKey,
          callbackUrl: options.callbackUrl,
          setupId: sms.setupId,
        });
      } finally {
        if (place !== undefined) pacer?.finished(place);
      }
    };
    let guarded: { sent: true; value: SendResult } | { sent: false };
    try {
      // The confirmation of a STOP is the one SMS an opted-out number still gets: it needs no guard.
      guarded = options.guard && !sms.confirmsOptOut ? await options.guard(sms.recipient, call) : { sent: true, value: await call() };
    } catch (error) {
      if (called) throw error;
      // The guard could not reach the database (a restart): the provider was not called. The claim is handed back
      // once the database answers, so the row is not later taken for one whose send may have happened.
      logger.warn({ qid: sms.queueId, outbox: sms.outboxId, err: error }, 'not sent: the database is unavailable; the claim is handed back when it is back');
      void persist(sms, leaseEnd, 'release', () => ledger.releaseClaim(sms.outboxId, `not sent: ${(error as Error).message}`, clock.now()));
      return;
    }
    if (!guarded.sent) {
      // Opted out since the claim (at another daemon, perhaps): the next claim suppresses the row.
      logger.debug({ qid: sms.queueId, outbox: sms.outboxId, to: maskNumber(sms.recipient) }, 'opted out since the claim; not sending');
      metrics.inc('mail2sms_dispatch_total', { result: 'held_for_opt_out' });
      await ledger.releaseClaim(sms.outboxId, 'the number opted out after the claim', clock.now());
      return;
    }
    const result = guarded.value;
    const now = clock.now();
    const { outcome, record } = outcomeOf(sms, result, now);
    metrics.inc('mail2sms_dispatch_total', { result: outcome });
    metrics.observe('mail2sms_provider_call_seconds', secondsSince(calling), { result: outcome });
    // createdAt is stamped by the ledger with the daemon's clock when the mail was committed (the 250).
    if (outcome === 'sent') metrics.observe('mail2sms_accept_to_sent_seconds', (now - sms.createdAt) / 1000);
    // A refusal of one SMS (a bad number) says nothing about the provider; a temporary failure does.
    if (result.ok || !result.temporary) providerTrouble = undefined;
    else providerTrouble = { reason: result.reason, since: providerTrouble?.since ?? now, calls: (providerTrouble?.calls ?? 0) + 1 };
    void persist(sms, leaseEnd, outcome, record);
  }

  /** What the provider's answer makes of the row (logged here), and the ledger write that records it. */
  function outcomeOf(sms: ClaimedSms, result: SendResult, now: number): { outcome: 'sent' | 'retry' | 'failed' | 'unknown'; record: () => Promise<void> } {
    if (result.ok) {
      // via and hops: named providers (routes and failover); undefined (not written) for the one provider.
      logger.info({ qid: sms.queueId, outbox: sms.outboxId, to: maskNumber(sms.recipient), providerId: result.providerMessageId, attempt: sms.attempt, parts: result.parts, via: result.via, hops: result.hops }, 'sms sent');
      return { outcome: 'sent', record: () => ledger.recordSent(sms.outboxId, result.providerMessageId, result.parts) };
    }
    if (result.unknown && !provider.idempotent && sms.onUnknown === 'fail') {
      // It may have been sent, and the provider cannot drop a repeat: at most once.
      const reason = `${result.reason}; it may or may not have been sent, and ${provider.name} has no idempotency (on_unknown: fail)`;
      logger.warn({ qid: sms.queueId, outbox: sms.outboxId, reason, attempt: sms.attempt }, 'send outcome unknown; not retried (on_unknown: fail)');
      return { outcome: 'unknown', record: () => ledger.recordUnknown(sms.outboxId, reason) };
    }
    if (result.temporary && sms.attempt < options.maxAttempts && now - sms.createdAt < maxRetryAgeMs) {
      const next = now + Math.max(result.retryAfterMs ?? 0, backoff(sms.attempt));
      const reason = result.unknown && !provider.idempotent ? `${result.reason} (may have been sent; retried under on_unknown: retry)` : result.reason;
      logger.warn({ qid: sms.queueId, outbox: sms.outboxId, reason, attempt: sms.attempt, next: new Date(next).toISOString() }, 'send failed temporarily; will retry');
      return { outcome: 'retry', record: () => ledger.recordRetry(sms.outboxId, reason, next) };
    }
    const reason = !result.temporary
      ? result.reason
      : sms.attempt >= options.maxAttempts
        ? `gave up after ${sms.attempt} attempts: ${result.reason}`
        : `gave up after ${Math.round((now - sms.createdAt) / 60_000)} min of retries (dispatch.max_retry_age): ${result.reason}`;
    logger.error({ qid: sms.queueId, outbox: sms.outboxId, reason, attempt: sms.attempt }, 'send failed permanently');
    if (result.optedOut) {
      // The provider says the person opted out with it (Twilio 21610): the ledger keeps that as an opt-out with this
      // evidence, so every channel respects it, and the row fails. Both writes, or the lease retries the row.
      const source = `provider ${result.via ?? provider.name}`;
      const change = { recipient: sms.recipient, action: 'opt_out' as const, source, evidence: reason };
      return { outcome: 'failed', record: async () => void (await ledger.changeConsent([change]), await ledger.recordFailure(sms.outboxId, reason)) };
    }
    return { outcome: 'failed', record: () => ledger.recordFailure(sms.outboxId, reason) };
  }

  /**
   * Writes what became of an attempt. While the database is away (a restart)
   * it tries again, backing off, for as long as the claim's lease surely
   * lasts: an outcome written in time spares a second provider call (and a
   * provider without idempotency a row left `unknown`). Each write changes
   * the row only while it is still `sending`, so one that did commit before
   * its answer was lost is not applied twice. After that, the lease expires
   * and the row is claimed again with the same idempotency key.
   */
  async function persist(sms: ClaimedSms, leaseEnd: number, what: string, write: () => Promise<void>): Promise<void> {
    for (let waitMs = 100; ; waitMs = Math.min(2 * waitMs, 2000)) {
      try {
        await write();
        return;
      } catch (error) {
        if (!running || clock.now() + waitMs >= leaseEnd) {
          logger.error({ qid: sms.queueId, outbox: sms.outboxId, outcome: what, err: error },
            'could not record the send outcome; the lease will expire and the row be sent again with the same idempotency key');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, waitMs).unref());
      }
    }
  }

  function track(sms: ClaimedSms, leaseEnd: number): void {
    const job = sendOne(sms, leaseEnd)
      .catch((error: unknown) => {
        logger.error({ err: error, qid: sms.queueId, outbox: sms.outboxId }, 'send attempt failed unexpectedly; the lease will expire and the row be retried');
      })
      .finally(() => {
        active.delete(job);
        wake();
      });
    active.add(job);
  }

  // Provider-wide rate limit, paced: one send every 1/rate seconds, and after
  // an idle spell at most `burst` at once (a fiftieth of a second's worth, at
  // least one). A token bucket would let twice the rate through in the second
  // after an idle one, and a window that opens all at once lets a whole batch
  // land on the provider together: providers count arrivals per second.
  const rate = options.ratePerSecond ?? 0;
  // The claims are paced; the exact cap is the pacer's, at the start of each provider call.
  const pacer = rate > 0 ? createPacer(rate, clock) : undefined;
  /** Waits for a place in the rate limit's window (undefined: no limit). */
  async function startAllowed(): Promise<number | undefined> {
    if (!pacer) return undefined;
    for (;;) {
      const asked = pacer.tryStart();
      if ('place' in asked) return asked.place;
      await new Promise<void>((resolve) => setTimeout(resolve, asked.waitMs));
    }
  }
  /** Whether this daemon was the elected dispatcher at the last pump (where there is an election). */
  let leading = false;
  const intervalMs = rate > 0 ? 1000 / rate : 0;
  const burst = rate > 0 ? Math.max(1, Math.floor(rate / 50)) : 0;
  /** When the next send may start. */
  let nextSlot = 0;
  function allowance(): number {
    if (rate <= 0) return Number.POSITIVE_INFINITY;
    const now = clock.now();
    nextSlot = Math.max(nextSlot, now - (burst - 1) * intervalMs);
    return now < nextSlot ? 0 : Math.floor((now - nextSlot) / intervalMs) + 1;
  }

  async function pump(): Promise<void> {
    if (!running) return;
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    timerAt = undefined;
    let drained = false;
    try {
      do {
        again = false;
        if (options.mayDispatch) {
          const now = options.mayDispatch();
          // Newly elected: the last dispatcher may have used this second's budget just before it went.
          if (now && !leading) pacer?.fill();
          leading = now;
          if (!now) break;
        }
        const allowed = Math.min(options.concurrency - active.size, allowance());
        if (allowed <= 0) break;
        // The ledger stamps the lease with its own (later) reading of the clock: this end is on the safe side, and a
        // quarter of the lease is left for another daemon's clock running ahead of ours.
        const leaseEnd = clock.now() + Math.floor(options.leaseMs * 0.75);
        const claimed = await ledger.claimDue(allowed, options.leaseMs);
        if (rate > 0) nextSlot += claimed.length * intervalMs;
        for (const sms of claimed) track(sms, leaseEnd);
        if (claimed.length < allowed) drained = true;
        else again = true;
      } while (again && running);
    } catch (error) {
      logger.error({ err: error }, 'dispatch could not claim rows; retrying at the next poll');
    } finally {
      pumping = false;
    }
    await arm(drained);
  }

  /**
   * Sets the next look: when nothing is due now, at the next due row (or the
   * poll interval); when the rate limit holds us back, when the next token is
   * there. At full concurrency a finishing send wakes us anyway.
   */
  async function arm(drained: boolean): Promise<void> {
    if (!running) return;
    let delay = options.pollIntervalMs;
    if (drained) {
      try {
        const due = await ledger.nextDueAt();
        if (due !== undefined) delay = Math.max(0, Math.min(delay, due - clock.now()));
      } catch {
        // keep the poll interval
      }
    } else if (rate > 0 && active.size < options.concurrency && allowance() < 1) {
      delay = Math.min(delay, Math.max(1, Math.ceil(nextSlot - clock.now())));
    }
    if (!running) return;
    if (dueLater !== undefined) delay = Math.max(0, Math.min(delay, dueLater - clock.now()));
    dueLater = undefined;
    lookAt(clock.now() + delay);
  }

  function lookAt(at: number): void {
    clearTimeout(timer);
    timer = setTimeout(() => void pump(), Math.max(0, at - clock.now()));
    timer.unref();
    timerAt = at;
  }

  let waking: NodeJS.Immediate | undefined;
  /** When the armed look runs (undefined while a look runs and has not armed the next). */
  let timerAt: number | undefined;
  /** The earliest due time told while a look ran: its arm may have read the due times before those rows. */
  let dueLater: number | undefined;
  /**
   * Looks for due rows at the end of this turn of the event loop, not at once:
   * sends that finish in the same turn (answers read from several sockets)
   * and rows queued together share one claim, one message to the ledger
   * thread and one commit there, instead of one each.
   */
  function wake(dueAt = 0): void {
    if (!running || waking) return;
    // Rows not due yet: a claim now would find nothing. Look when they are due, if that is before the look armed.
    if (dueAt > clock.now()) {
      if (timerAt === undefined) dueLater = Math.min(dueLater ?? dueAt, dueAt);
      else if (dueAt < timerAt) lookAt(dueAt);
      return;
    }
    waking = setImmediate(() => {
      waking = undefined;
      void pump();
    });
  }

  return {
    start() {
      running = true;
      void pump();
    },
    providerState() {
      if (!providerTrouble) return 'ok';
      const { reason, since, calls } = providerTrouble;
      return `failing: ${calls} call(s) in a row since ${new Date(since).toISOString()}, last: ${reason}`;
    },
    wake,
    async stop(timeoutMs = 10_000) {
      running = false;
      clearTimeout(timer);
      clearImmediate(waking);
      waking = undefined;
      if (active.size === 0) return;
      let expired: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...active]),
        new Promise<void>((resolve) => {
          expired = setTimeout(resolve, timeoutMs);
          expired.unref();
        }),
      ]);
      clearTimeout(expired);
    },
    inFlight: () => active.size,
  };
}
