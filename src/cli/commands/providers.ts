import type { Command } from 'commander';
import { providerPlan, type PlannedProvider } from '../../config/provider-plan.js';
import type { RouteConfig } from '../../config/schema.js';
import { formatListen } from '../../core/units.js';
import { configOption, load } from '../common.js';
import type { CliIo } from '../io.js';
import { reachableUrl } from './health.js';

/*
 * `mail2sms providers [--json]` (issue 24): each provider of the config, where
 * it sends (never its secrets), the routes it is on, and its circuit as the
 * running daemon's /healthz reports it (unknown when no daemon answers).
 */

interface ProviderLine {
  name: string;
  type: string;
  target: string;
  routes: string[];
  circuit: string;
}

function targetOf(planned: PlannedProvider): string {
  const config = planned.config;
  if (config.type === 'simulator') return `${formatListen(config.listen)}${config.embedded ? ' (embedded)' : ''}`;
  return new URL('url' in config ? config.url : config.base_url).origin;
}

function routeWords(route: RouteConfig, index: number): string {
  const match = route.match ?? {};
  const parts = Object.entries(match).map(([key, values]) => `${key} ${(values as string[]).join(',')}`);
  return `#${index + 1} ${parts.length > 0 ? parts.join(' and ') : 'default'}: ${route.providers.join(' → ')}`;
}

/** Open circuits by provider name, from the daemon; undefined when it does not answer. */
async function circuits(url: string): Promise<Map<string, string> | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { circuits?: string };
    const open = new Map<string, string>();
    if (body.circuits && body.circuits !== 'ok') {
      for (const part of body.circuits.split('; ')) open.set(part.split(' ')[0] ?? '', part.slice(part.indexOf(' ') + 1));
    }
    return open;
  } catch {
    return undefined;
  }
}

export function registerProvidersCommands(program: Command, { out }: CliIo): void {
  program
    .command('providers')
    .description('each SMS provider: where it sends, its routes, and its circuit in the running daemon')
    .option('--json', 'one JSON document')
    .addOption(configOption())
    .action(async (opts: { json?: boolean; config: string }) => {
      const config = load(opts.config);
      const plan = providerPlan(config.main);
      const open = await circuits(reachableUrl(config.main.http.listen, '/healthz'));
      const lines: ProviderLine[] = plan.providers.map((planned) => ({
        name: planned.name,
        type: planned.config.type,
        target: targetOf(planned),
        routes: plan.routes.flatMap((route, i) => (route.providers.includes(planned.name) ? [routeWords(route, i)] : [])),
        circuit: open === undefined ? 'unknown (no daemon answered)' : (open.get(planned.name) ?? 'closed'),
      }));
      if (opts.json) return out(`${JSON.stringify({ providers: lines, routes: plan.routes }, null, 2)}\n`);
      for (const line of lines) {
        out(`${line.name}  ${line.type}  ${line.target}  circuit: ${line.circuit}\n`);
        for (const route of line.routes) out(`  route ${route}\n`);
      }
    });
}
