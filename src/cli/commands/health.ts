import type { Command } from 'commander';
import { readHttpListen } from '../../config/http-listen.js';
import { CliFailure, configOption, load } from '../common.js';
import { EXIT } from '../exit.js';
import type { CliIo } from '../io.js';
import { parseDuration, type ListenAddress } from '../../core/units.js';

/*
 * `mail2sms health [--wait 30s]`: asks the running daemon's GET /healthz, at
 * the address the config gives (http.listen: the only key it reads, so a setup
 * file mid-edit does not fail it; the daemon runs the config it validated).
 * The systemd unit's ExecStartPost waits with it, so `systemctl start` returns
 * once mail2sms answers (or fails the start).
 */

/** Where to reach a listener from this machine: a wildcard address is reached on loopback. */
export function reachableUrl(listen: ListenAddress, path: string): string {
  const host = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '::1' : listen.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${listen.port}${path}`;
}

async function probe(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return response.ok ? undefined : `HTTP ${response.status}`;
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return cause?.code ?? (error as Error).message;
  }
}

export function registerHealthCommands(program: Command, { out }: CliIo): void {
  program
    .command('health')
    .description('ask the running daemon GET /healthz (exit 0 when healthy, 69 when not); --wait retries until it is')
    .option('--wait <duration>', 'keep asking this long (e.g. 30s) before giving up', '0s')
    .addOption(configOption())
    .action(async (opts: { wait: string; config: string }) => {
      const listen = load(opts.config, readHttpListen);
      const waitMs = parseDuration(opts.wait);
      if (waitMs === undefined) throw new CliFailure(`--wait: "${opts.wait}" is not a duration (e.g. 30s)`, EXIT.usage);
      const url = reachableUrl(listen, '/healthz');
      const deadline = Date.now() + waitMs;
      for (;;) {
        const problem = await probe(url);
        if (problem === undefined) return out(`healthy: ${url}\n`);
        if (Date.now() >= deadline) throw new CliFailure(`not healthy: ${url}: ${problem}`, EXIT.unavailable);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    });
}
