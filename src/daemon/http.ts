import { hostname } from 'node:os';
import { formatListen } from '../core/units.js';
import { sendJson } from '../core/http-server-kit.js';
import { apiRoutes } from '../http/api-routes.js';
import { createHttpApi, type HttpApiOptions, type Route } from '../http/server.js';
import { createConsole, CONSOLE_PREFIX } from '../http/console/console.js';
import type { DaemonStatus } from '../http/console/page-types.js';
import type { SmsProvider } from '../providers/index.js';
import type { RoutedProvider } from '../providers/routed.js';
import type { OpenedLedger } from './ledger.js';
import type { Observability } from './observe.js';
import type { InboundAndNotify } from './inbound-and-notify.js';
import type { Wiring } from './steps.js';

export interface HttpDeps {
  opened: OpenedLedger;
  provider: SmsProvider;
  /** Named providers: callbacks at /receipts/<name> and /inbound/<name>. */
  routed?: RoutedProvider;
  observe: Observability;
  handleInbound: InboundAndNotify['handleInbound'];
  lastReload(): DaemonStatus['lastReload'];
}

/** The HTTP API (receipts, inbound SMS, sends, contacts, health, metrics) and the console; returns its port and public URL. */
export async function startHttpStep(wiring: Wiring, deps: HttpDeps): Promise<{ port: number; publicUrl: string }> {
  const { ledger } = deps.opened;
  const config = wiring.config;
  // Known once the listener has its port (http.listen may say 0); callbacks arrive after that.
  let publicUrl = '';
  const http = createHttpApi({
    listen: config().main.http.listen,
    ledger,
    provider: deps.provider,
    logger: wiring.logger,
    clock: wiring.clock,
    metrics: deps.observe.metrics,
    maxConcurrentBodies: config().main.http.max_concurrent_bodies,
    health: async () => {
      // The thread (or PostgreSQL) answers a read only while it holds the database.
      const thread = await ledger.queueDepth().then(() => undefined, (error: unknown) => `${deps.opened.healthName}: ${(error as Error).message}`);
      return {
        ledger: deps.opened.fileProblem() ?? thread ?? 'ok',
        provider: deps.observe.providerState(),
        ...(deps.routed ? { circuits: circuitState(deps.routed) } : {}),
      };
    },
    routes: routes(wiring, deps),
    publicUrl: () => publicUrl,
    ...(deps.routed ? { providerByName: deps.routed.byName } : {}),
    // Checked per request, so a reload can turn the console on or off.
    mounts: [{ prefix: CONSOLE_PREFIX, handle: consoleMount(wiring, deps) }],
  });
  const port = await http.start();
  wiring.steps.add('http', () => http.stop());
  publicUrl = config().main.http.public_url ? config().publicUrl : `http://${formatListen({ host: config().main.http.listen.host, port })}`;
  return { port, publicUrl };
}

function routes(wiring: Wiring, deps: HttpDeps): Record<string, Route> {
  const named = deps.routed;
  return apiRoutes({
    // The shorthand provider: at /inbound; named ones each at /inbound/<name>.
    inbound: named ? named.names().map((name) => ({ name, provider: named.byName(name) as SmsProvider })) : [{ provider: deps.provider }],
    handleInbound: deps.handleInbound,
    ledger: deps.opened.ledger,
    tokens: () => wiring.config().main.http.tokens,
    now: () => wiring.clock.now(),
    logger: wiring.logger,
    maxSkewMs: wiring.config().main.limits.clock_skew,
    getConfig: wiring.config,
  });
}

/** 'ok' while every named provider's circuit is closed; else which are open (the route skips them) and why. */
function circuitState(routed: RoutedProvider): string {
  const open = Object.entries(routed.breakers()).filter(([, breaker]) => breaker.state !== 'closed');
  return open.length === 0 ? 'ok' : open.map(([name, breaker]) => `${name} ${breaker.state}${breaker.lastError ? ` (${breaker.lastError})` : ''}`).join('; ');
}

function consoleMount(wiring: Wiring, deps: HttpDeps): NonNullable<HttpApiOptions['mounts']>[number]['handle'] {
  const config = wiring.config;
  const startedAt = wiring.clock.now();
  const status = (): DaemonStatus => {
    const lastReload = deps.lastReload();
    return {
      startedAt,
      pid: process.pid,
      host: hostname(),
      ledger: deps.opened.where,
      dispatching: true,
      ...(lastReload ? { lastReload } : {}),
    };
  };
  const opsConsole = createConsole({
    ledger: deps.opened.consoleReads,
    tokens: () => config().main.http.tokens,
    setups: () => config().setups,
    status,
    refusals: () => deps.observe.refusals.counts(),
    secure: () => config().publicUrl.startsWith('https:'),
    clock: wiring.clock,
    logger: wiring.logger,
  });
  return (req, res) => (config().main.http.console.enabled ? opsConsole.handle(req, res) : sendJson(res, 404, { error: `no route ${req.method} ${CONSOLE_PREFIX}` }));
}
