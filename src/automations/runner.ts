import type { Automation } from '../config/automations.js';
import type { Config } from '../config/load.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { Ledger } from '../ledger/types.js';
import { startOccurrence } from './occurrence.js';
import { compileSchedule, dueRuns } from './schedule.js';

/*
 * The automation runner in the daemon: on start and on each tick it works out
 * which occurrences are due (schedule.ts: dueRuns) since the last one the
 * ledger knows, starts the latest inside catch_up and records older ones as
 * missed. It keeps no state that matters: the ledger's run keys decide, so a
 * restart, a reload or a second daemon cannot send a run twice.
 */

export interface AutomationRunnerDeps {
  ledger: Pick<Ledger, 'groupMembers' | 'startRun' | 'recordMissed' | 'checkRecipient' | 'lastRuns'>;
  getConfig: () => Config;
  clock: Clock;
  logger: Logger;
  metrics?: Metrics;
  /** Longest wait between ticks, so a reload or a changed clock is noticed (default 60 s). */
  maxWaitMs?: number;
}

export interface AutomationRunner {
  start(): void;
  /** Works through what is due now (tests call it after moving their clock). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/** A run started this much after its occurrence is a catch-up (the daemon was down or busy). */
const LATE_MS = 5 * 60_000;

export function createAutomationRunner(deps: AutomationRunnerDeps): AutomationRunner {
  const { ledger, clock, logger } = deps;
  const maxWaitMs = deps.maxWaitMs ?? 60_000;
  // Where an automation with no run in the ledger starts counting: when this process first saw it, less its catch_up.
  const firstSeen = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const count = (automation: string, outcome: string) => deps.metrics?.inc('mail2sms_automation_runs_total', { automation, outcome });

  async function handle(automation: Automation, lastRun: number | undefined, now: number): Promise<void> {
    const isNew = lastRun === undefined && !firstSeen.has(automation.id);
    if (lastRun === undefined && isNew) firstSeen.set(automation.id, now - automation.catch_up);
    const since = lastRun ?? (firstSeen.get(automation.id) as number);
    const due = dueRuns(automation.schedule, since, now, automation.catch_up);
    // Occurrences before this process knew of a never-run automation are not "missed": it did not exist for us then.
    if (!isNew && (due.missed.length > 0 || due.moreMissed > 0)) await recordMissed(automation, due.missed, due.moreMissed);
    if (due.run === undefined) return;
    const outcome = await startOccurrence(ledger, deps.getConfig(), automation, due.run, now - due.run > LATE_MS ? 'catch-up' : 'schedule', now);
    const occurrence = new Date(due.run).toISOString();
    if (outcome.outcome === 'ran') {
      const { recipients, queued, suppressed, queueId } = outcome.run;
      logger.info({ automation: automation.id, occurrence, queueId, recipients, queued, suppressed, runBy: outcome.run.runBy }, 'automation run started');
      count(automation.id, 'ran');
    } else if (outcome.outcome === 'already-ran') {
      logger.debug({ automation: automation.id, occurrence }, 'automation run already done (another daemon, or by hand)');
      count(automation.id, 'already_ran');
    } else {
      if (outcome.recorded) logger.error({ automation: automation.id, occurrence, reason: outcome.refusal.detail }, 'automation run not sent');
      count(automation.id, 'refused');
    }
  }

  async function recordMissed(automation: Automation, missed: readonly number[], more: number): Promise<void> {
    const detail = `more than catch_up (${automation.catch_up / 1000} s) late, or superseded by a later run after downtime`;
    const recorded = await ledger.recordMissed(automation.id, missed, detail);
    for (const at of recorded) {
      logger.warn({ automation: automation.id, occurrence: new Date(at).toISOString() }, 'automation run missed');
      count(automation.id, 'missed');
    }
    if (more > 0) logger.warn({ automation: automation.id, notListed: more }, 'automation runs missed beyond those recorded one by one');
  }

  async function tickOnce(): Promise<void> {
    const config = deps.getConfig();
    const now = clock.now();
    const last = new Map((await ledger.lastRuns()).map((run) => [run.automationId, run.scheduledAt]));
    for (const automation of config.automations) {
      if (!automation.enabled) continue;
      try {
        await handle(automation, last.get(automation.id), now);
      } catch (error) {
        // The next tick tries again: the run's key makes that safe.
        logger.error({ err: error, automation: automation.id }, 'automation tick failed');
        count(automation.id, 'failed');
      }
    }
  }

  /** Until the next occurrence of any enabled automation, at most maxWaitMs. */
  function nextWait(): number {
    const now = clock.now();
    let wait = maxWaitMs;
    for (const automation of deps.getConfig().automations) {
      if (!automation.enabled) continue;
      const next = compileSchedule(automation.schedule).next(now);
      if (next !== undefined) wait = Math.min(wait, Math.max(0, next - now));
    }
    return wait;
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      void tick().finally(schedule);
    }, nextWait());
    timer.unref();
  }

  function tick(): Promise<void> {
    running ??= tickOnce()
      .catch((error: unknown) => logger.error({ err: error }, 'automation tick failed'))
      .finally(() => (running = undefined));
    return running;
  }

  return {
    start() {
      void tick().finally(schedule);
    },
    tick,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/** The daemon's one call: a runner, started (its first tick runs at once). */
export function startAutomations(deps: AutomationRunnerDeps): AutomationRunner {
  const runner = createAutomationRunner(deps);
  runner.start();
  return runner;
}
