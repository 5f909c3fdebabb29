import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { systemClock, type Clock } from './core/clock.js';
import type { Config } from './config/load.js';
import { createReloader, type ReloadResult } from './config/reload.js';
import type { Logger } from './core/log.js';
import type { Ledger } from './ledger/types.js';
import type { DaemonStatus } from './http/console/page-types.js';
import { INBOUND_PATH } from './http/server.js';
import { createSmtpIntake } from './smtp/server.js';
import { SHUTDOWN_GRACE_MS } from './smtp/shutdown.js';
import { formatListen } from './core/units.js';
import { assertNotRunning } from './core/instance.js';
import type { DnsResolver } from './smtp/sender-auth.js';
import { startAutomations, type AutomationRunner } from './automations/runner.js';
import { createOptOutGate } from './consent/gate.js';
import { createStepList, type Wiring } from './daemon/steps.js';
import { openLedgerStep, storageLabel, type IntakeLedger } from './daemon/ledger.js';
import { startProviderStep } from './daemon/provider.js';
import { createObservability } from './daemon/observe.js';
import { createInboundAndNotify, startReporterStep } from './daemon/inbound-and-notify.js';
import { startHttpStep } from './daemon/http.js';
import { startDispatchStep } from './daemon/dispatch.js';
import type { Relay } from './notify/relay.js';
import type { MetricsRegistry } from './core/metrics.js';

export function pidFileFor(config: Config): string {
  return join(config.runtime.dir, 'mail2sms.pid');
}

export interface DaemonOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  /** DNS for SPF and DKIM; the system resolver when absent. */
  resolver?: DnsResolver;
}

export interface RunningDaemon {
  ports: { smtp: number; http: number; simulator?: number };
  ledger: Ledger;
  /** Resolves when the daemon can no longer work (the ledger thread died); it has stopped itself. */
  failed: Promise<Error>;
  /**
   * Re-reads the config files off the event loop; keeps the running config (and says why) when
   * the new one is invalid, and names the changed keys only a restart applies.
   */
  reload(): Promise<ReloadResult>;
  /** Scheduled SMS (src/automations/runner.ts); tests move their clock and call tick(). */
  automations: Pick<AutomationRunner, 'tick'>;
  stop(): Promise<void>;
}

/**
 * Starts the stages in dependency order (ledger → provider → HTTP → dispatch →
 * SMTP last, so we never accept mail we cannot store) and stops them in reverse.
 * Each step (src/daemon/) registers its own stop as soon as it has started.
 */
export async function startDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  let config = options.config;
  let lastReload: DaemonStatus['lastReload'];
  const logger = options.logger;
  const wiring: Wiring = { config: () => config, clock: options.clock ?? systemClock, logger, steps: createStepList(logger) };

  // Before anything binds a port: a second start names the running daemon instead of failing on EADDRINUSE.
  assertNotRunning(pidFileFor(config), `${formatListen(config.main.smtp.listen)} (ledger ${storageLabel(config)})`);
  try {
    const opened = await openLedgerStep(wiring);
    const { ledger } = opened;
    const { provider, routed, simulatorPort, setInboundUrl } = await startProviderStep(wiring);
    const observe = createObservability(wiring, ledger);
    const { metrics } = observe;
    const gate = createOptOutGate({ clock: wiring.clock, holdMs: 2 * config.main.dispatch.lease });
    const { relay, handleInbound } = createInboundAndNotify(wiring, { ledger, gate, metrics });
    const http = await startHttpStep(wiring, { opened, provider, ...(routed ? { routed } : {}), observe, handleInbound, lastReload: () => lastReload });
    setInboundUrl(http.publicUrl + INBOUND_PATH);
    observe.watchDispatch(startDispatchStep(wiring, { opened, provider, publicUrl: http.publicUrl, metrics, gate }));
    startReporterStep(wiring, { ledger, relay, metrics });
    const automations = startAutomations({ ledger, getConfig: wiring.config, clock: wiring.clock, logger: logger.child({ stage: 'automations' }), metrics });
    wiring.steps.add('automations', () => automations.stop());
    const smtp = await startSmtpStep(wiring, { intakeLedger: opened.intakeLedger, metrics, relay, resolver: options.resolver });
    writePidFile(wiring);

    const ports = { smtp: smtp.port, http: http.port, ...(simulatorPort !== undefined ? { simulator: simulatorPort } : {}) };
    logger.info({ ports, setups: config.setups.map((s) => s.id), storage: storageLabel(config) }, 'mail2sms ready');

    const reloader = createReloader({
      running: () => config,
      apply(next) {
        config = next;
        smtp.updateTls(next);
      },
      logger,
      clock: wiring.clock,
    });
    wiring.steps.add('reload answer', () => rmSync(reloader.answerFile, { force: true }));

    const stop = stopOnce(wiring);
    const failed = opened.failed.then(async (error) => {
      logger.fatal({ err: error }, 'the ledger is gone; stopping so the service manager can restart us');
      await stop();
      return error;
    });
    const reload = async () => {
      const result = await reloader.reload();
      lastReload = result.ok ? { at: wiring.clock.now(), ok: true } : { at: wiring.clock.now(), ok: false, error: result.error };
      return result;
    };
    return { ports, ledger, failed, reload, automations, stop };
  } catch (error) {
    await wiring.steps.stopAll();
    throw error;
  }
}

async function startSmtpStep(
  wiring: Wiring,
  deps: { intakeLedger: IntakeLedger; metrics: MetricsRegistry; relay: Relay | undefined; resolver: DnsResolver | undefined },
): Promise<{ port: number; updateTls(config: Config): void }> {
  const smtp = createSmtpIntake({
    getConfig: wiring.config,
    ledger: deps.intakeLedger,
    logger: wiring.logger,
    clock: wiring.clock,
    metrics: deps.metrics,
    ...(deps.relay ? { relay: deps.relay } : {}),
    ...(deps.resolver ? { resolver: deps.resolver } : {}),
  });
  const port = await smtp.start();
  wiring.steps.add('smtp', () => smtp.stop());
  return { port, updateTls: (config) => smtp.updateTls(config) };
}

/** `mail2sms reload` finds the daemon through this file, in the runtime directory (created if missing). */
function writePidFile(wiring: Wiring): void {
  const pidFile = pidFileFor(wiring.config());
  mkdirSync(dirname(pidFile), { recursive: true, mode: 0o750 });
  writeFileSync(pidFile, `${process.pid}\n`);
  wiring.steps.add('pid file', () => rmSync(pidFile, { force: true }));
}

/** The first call stops every step; later calls wait for the same stop. */
function stopOnce(wiring: Wiring): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    if (!stopping) {
      const d = wiring.config().main.dispatch;
      wiring.logger.info({ smtpGraceMs: SHUTDOWN_GRACE_MS, shutdownTimeoutMs: d.shutdown_timeout }, 'shutting down: no new mail, idle SMTP clients closed, in-flight sends may finish');
    }
    return (stopping ??= wiring.steps.stopAll().then(() => wiring.logger.info('mail2sms stopped')));
  };
}
