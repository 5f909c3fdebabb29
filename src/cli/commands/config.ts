import { readFileSync } from 'node:fs';
import { pidFileFor } from '../../daemon.js';
import { setupJsonSchema } from '../../config/schema.js';
import { readReloadAnswer, reloadAnswerFileFor, type ReloadAnswer } from '../../config/reload.js';
import { formatIssue, type Config } from '../../config/load.js';
import { preflight } from '../../config/preflight.js';
import { CliFailure, configOption, load } from '../common.js';
import { EXIT } from '../exit.js';
import { pidOwner } from '../pid-file.js';
import type { Command } from 'commander';
import type { CliIo } from '../io.js';

export function registerConfigCommands(program: Command, { out }: CliIo): void {
  program
    .command('check-config')
    .description('validate the main config and every setup; exit 78 with file:line: field: problem on error')
    .addOption(configOption())
    .action((opts: { config: string }) => {
      const config = load(opts.config);
      const problems = preflight(config);
      if (problems.length > 0) throw new CliFailure(`the service would not start:\n${problems.map(formatIssue).join('\n')}`, EXIT.config);
      out(`${config.file}: OK (${config.setups.length} setup(s): ${config.setups.map((s) => s.id).join(', ')})\n${automationsNote(config)}`);
    });

  program
    .command('reload')
    .description('validate the config here, tell the running daemon to reload it (SIGHUP; same as systemctl reload), and print its answer')
    .addOption(configOption())
    .action(async (opts: { config: string }) => {
      const config = load(opts.config);
      const pidFile = pidFileFor(config);
      let pid: number;
      try {
        pid = Number(readFileSync(pidFile, 'utf8').trim());
      } catch {
        throw new CliFailure(`no running daemon: ${pidFile} does not exist`, EXIT.unavailable);
      }
      const owner = Number.isInteger(pid) && pid > 0 ? pidOwner(pid) : { kind: 'gone' as const };
      if (owner.kind === 'gone') throw new CliFailure(`no daemon with pid ${pid}; ${pidFile} is stale (left by a daemon that did not exit cleanly)`, EXIT.unavailable);
      if (owner.kind === 'other') {
        throw new CliFailure(`pid ${pid} from ${pidFile} is not mail2sms but "${owner.command}"; the file is stale, nothing was signalled`, EXIT.unavailable);
      }
      const answerFile = reloadAnswerFileFor(config);
      const before = answerOf(answerFile, pid)?.reloads ?? 0;
      try {
        process.kill(pid, 'SIGHUP');
      } catch (error) {
        throw new CliFailure(`no daemon with pid ${pid} (${(error as NodeJS.ErrnoException).code}); ${pidFile} is stale`, EXIT.unavailable);
      }
      out(`config valid; asked mail2sms (pid ${pid}) to reload\n`);
      const answer = await waitForAnswer(answerFile, pid, before);
      if (!answer) throw new CliFailure(`mail2sms (pid ${pid}) did not answer within ${ANSWER_TIMEOUT_MS / 1000} s; its log says whether it reloaded`, EXIT.unavailable);
      // The daemon may read other files or environment than this shell did.
      if (!answer.ok) throw new CliFailure(`mail2sms kept its running config: ${answer.error}`, EXIT.config);
      if (answer.needsRestart.length === 0) out('reloaded: every change applies to new sessions\n');
      else out(`reloaded, but these changes wait for a restart (the running values stay): ${answer.needsRestart.join(', ')}\n`);
    });

  program
    .command('schema')
    .description('print the JSON Schema of a setup file (shipped as config/setup.schema.json)')
    .action(() => out(JSON.stringify(setupJsonSchema(), null, 2) + '\n'));
}

const ANSWER_TIMEOUT_MS = 10_000;

function answerOf(file: string, pid: number): ReloadAnswer | undefined {
  const answer = readReloadAnswer(file);
  return answer?.pid === pid ? answer : undefined; // another pid's file was left by a daemon that crashed
}

/** The daemon's answer to this SIGHUP: the first with a higher reload count than before it. */
async function waitForAnswer(file: string, pid: number, before: number): Promise<ReloadAnswer | undefined> {
  const deadline = Date.now() + ANSWER_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const answer = answerOf(file, pid);
    if (answer && answer.reloads > before) return answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}

/** check-config's line on automations, only when there are any (the OK line stays as it was). */
function automationsNote(config: Config): string {
  if (config.automations.length === 0) return '';
  return `  ${config.automations.length} automation(s): ${config.automations.map((a) => (a.enabled ? a.id : `${a.id} (disabled)`)).join(', ')}\n`;
}
