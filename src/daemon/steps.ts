import type { Clock } from '../core/clock.js';
import type { Config } from '../config/load.js';
import type { Logger } from '../core/log.js';

/*
 * What every start step shares: the running config (a reload swaps it), the
 * clock and logger, and the list of stops. A step that starts something
 * registers its stop right away, so a later step that fails stops exactly
 * what had started, in reverse order.
 */

export interface StepList {
  add(name: string, stop: () => Promise<void> | void): void;
  /** Stops every step in reverse order; an error in one is logged and the rest still stop. */
  stopAll(): Promise<void>;
}

export interface Wiring {
  config(): Config;
  clock: Clock;
  logger: Logger;
  steps: StepList;
}

export function createStepList(logger: Logger): StepList {
  const steps: { name: string; stop: () => Promise<void> | void }[] = [];
  return {
    add: (name, stop) => void steps.push({ name, stop }),
    async stopAll() {
      for (const step of steps.splice(0).reverse()) {
        try {
          await step.stop();
        } catch (error) {
          logger.error({ err: error, step: step.name }, 'error while stopping');
        }
      }
    },
  };
}

/** Runs `tick` every `everyMs` (unref'd: it never keeps the process alive) and registers its stop. */
export function every(wiring: Wiring, name: string, everyMs: number, tick: () => void): void {
  const timer = setInterval(tick, everyMs);
  timer.unref();
  wiring.steps.add(name, () => clearInterval(timer));
}
