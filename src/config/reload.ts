import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { ConfigError, type Config } from './load.js';
import { loadConfigOffThread } from './load-async.js';
import { restartOnlyChanges } from './restart-only.js';

export type ReloadResult = { ok: true; needsRestart: string[] } | { ok: false; error: string };

/** `reloads` counts the daemon's reloads, so a reader can tell a new answer from an older one. */
export type ReloadAnswer = ReloadResult & { pid: number; reloads: number; at: string };

/**
 * The daemon's answer to its latest reload, in the runtime directory (next to
 * the pid file): SIGHUP carries no reply, so `mail2sms reload` reads the answer here.
 */
export function reloadAnswerFileFor(config: Config): string {
  return join(config.runtime.dir, 'mail2sms.reload.json');
}

export function readReloadAnswer(file: string): ReloadAnswer | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ReloadAnswer;
  } catch {
    return undefined; // none yet (or being replaced): the caller asks again
  }
}

/**
 * Reload: re-read and validate every config file; keep the running config
 * (and say why) when the new one is invalid; otherwise swap it in and name
 * each changed key that only a restart applies, in the log and in the answer file.
 */
export function createReloader(deps: { running(): Config; apply(next: Config): void; logger: Logger; clock: Clock }) {
  const { logger } = deps;
  const answerFile = reloadAnswerFileFor(deps.running());
  let reloads = 0;

  async function reloadConfig(): Promise<ReloadResult> {
    try {
      // Read, parsed and validated in a worker thread: a large setup does not stall SMTP sessions meanwhile.
      const next = await loadConfigOffThread(deps.running().file);
      const needsRestart = restartOnlyChanges(deps.running(), next);
      deps.apply(next);
      logger.info({ setups: next.setups.map((s) => s.id) }, 'config reloaded; new sessions use it (listen addresses need a restart)');
      if (needsRestart.length > 0) {
        logger.warn({ keys: needsRestart }, `config reloaded without these changes, which keep their running values until a restart: ${needsRestart.join(', ')}`);
      }
      return { ok: true, needsRestart };
    } catch (error) {
      const message = error instanceof ConfigError ? error.message : String(error);
      logger.error({ error: message }, 'config reload failed; keeping the running config');
      return { ok: false, error: message };
    }
  }

  async function reloadAndAnswer(): Promise<ReloadResult> {
    const result = await reloadConfig();
    const answer: ReloadAnswer = { ...result, pid: process.pid, reloads: ++reloads, at: new Date(deps.clock.now()).toISOString() };
    try {
      writeFileSync(`${answerFile}.tmp`, JSON.stringify(answer) + '\n');
      renameSync(`${answerFile}.tmp`, answerFile); // a reader never sees half an answer
    } catch (error) {
      logger.warn({ err: error, file: answerFile }, 'could not write the reload answer for `mail2sms reload`');
    }
    return result;
  }

  // One reload at a time, in order: a second SIGHUP waits for the first.
  let latest: Promise<ReloadResult> = Promise.resolve({ ok: true, needsRestart: [] });
  return {
    answerFile,
    reload(): Promise<ReloadResult> {
      latest = latest.then(reloadAndAnswer, reloadAndAnswer);
      return latest;
    },
  };
}
