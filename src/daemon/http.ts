import { hostname } from 'node:os';
import { formatListen } from '../core/units.js';
import { sendJson } from '../core/httpkit.js';
import { createHttpApi, INBOUND_PATH, RawAnswer, webhookHeaders, type HttpApiOptions, type Route } from '../http/server.js';
import { authorizeSends, createSendsEndpoint } from '../http/sends-api.js';
import { createContactsEndpoint } from '../http/contacts-api.js';
import { createConsole, CONSOLE_PREFIX } from '../http/console/console.js';
import type { DaemonStatus } from '../http/console/page-types.js';
import { describeTarget } from '../ledger/postgres/pool.js';
import type { SmsProvider } from '../providers/index.js';
import type { RoutedProvider } from '../providers/routed.js';
import type { OpenedLedger } from './ledger.js';
import type { Observability } from './observe.js';
import type { TalkBack } from './talk-back.js';
import type { Wiring } from './steps.js';

export interface HttpDeps {
  opened: OpenedLedger;
  provider: SmsProvider;
  /** Named providers: callbacks at /receipts/<name> and /inbound/<name>. */
  routed?: RoutedProvider;
  observe: Observability;
  handleInbound: TalkBack['handleInbound'];
  lastReload(): DaemonStatus['lastReload'];
}

/** The HTTP API (receipts, inbound SMS, sends, contacts, health, metrics) and the console; returns its port and public URL. */
export async function startHttpStep(w: Wiring, deps: HttpDeps): Promise<{ port: number; publicUrl: string }> {
  const { ledger } = deps.opened;
  const config = w.config;
  // Known once the listener has its port (http.listen may say 0); callbacks arrive after that.
  let publicUrl = '';
  const http = createHttpApi({
    listen: config().main.http.listen,
    ledger,
    provider: deps.provider,
    logger: w.logger,
    clock: w.clock,
    metrics: deps.observe.metrics,
    maxConcurrentBodies: config().main.http.max_concurrent_bodies,
    health: async () => {
      // The thread (or PostgreSQL) answers a read only while it holds the database.
      const thread = await ledger.queueDepth().then(() => undefined, (error: unknown) => `${config().storage.type === 'sqlite' ? 'ledger thread' : 'ledger'}: ${(error as Error).message}`);
      return {
        ledger: deps.opened.fileProblem() ?? thread ?? 'ok',
        provider: deps.observe.providerState(),
        ...(deps.routed ? { circuits: circuitState(deps.routed) } : {}),
      };
    },
    routes: routes(w, deps),
    publicUrl: () => publicUrl,
    ...(deps.routed ? { providerByName: deps.routed.byName } : {}),
    // Checked per request, so a reload can turn the console on or off.
    mounts: [{ prefix: CONSOLE_PREFIX, handle: consoleMount(w, deps) }],
  });
  const port = await http.start();
  w.steps.add('http', () => http.stop());
  publicUrl = config().main.http.public_url ? config().publicUrl : `http://${formatListen({ host: config().main.http.listen.host, port })}`;
  return { port, publicUrl };
}

function routes(w: Wiring, deps: HttpDeps): Record<string, Route> {
  const { ledger } = deps.opened;
  const tokens = () => w.config().main.http.tokens;
  const contacts = createContactsEndpoint({ ledger, getConfig: w.config });
  const named = deps.routed;
  const inboundAt = (path: string, provider: SmsProvider): [string, Route][] => [
    [`POST ${path}`, inboundRoute(w, deps, provider, false)],
    // Kannel's sms-service get-url: the query carries the SMS.
    [`GET ${path}`, inboundRoute(w, deps, provider, true)],
  ];
  const inboundRoutes = Object.fromEntries(
    named ? named.names().flatMap((name) => inboundAt(`${INBOUND_PATH}/${name}`, named.byName(name) as SmsProvider)) : inboundAt(INBOUND_PATH, deps.provider),
  );
  return {
    ...inboundRoutes,
    'POST /sends': {
      maxBytes: 32 * 1024 * 1024,
      authorize: authorizeSends(tokens),
      handle: createSendsEndpoint({ ledger, tokens, now: () => w.clock.now(), maxSkewMs: w.config().main.limits.clock_skew }),
    },
    'PUT /contacts': {
      maxBytes: 64 * 1024 * 1024,
      // The same tokens and scope as POST /sends, and one import at a time, checked before the body is read.
      authorize: (headers) => authorizeSends(tokens)(headers) ?? contacts.busy(),
      handle: contacts.handle,
    },
  };
}

/** 'ok' while every named provider's circuit is closed; else which are open (the route skips them) and why. */
function circuitState(routed: RoutedProvider): string {
  const open = Object.entries(routed.breakers()).filter(([, breaker]) => breaker.state !== 'closed');
  return open.length === 0 ? 'ok' : open.map(([name, breaker]) => `${name} ${breaker.state}${breaker.lastError ? ` (${breaker.lastError})` : ''}`).join('; ');
}

/** Inbound SMS from one provider, verified and parsed its way, into the same ledger path whatever the protocol. */
function inboundRoute(w: Wiring, deps: HttpDeps, provider: SmsProvider, queryAsBody: boolean): Route {
  return {
    ...(queryAsBody ? { queryAsBody } : {}),
    ...(provider.acceptsSource ? { source: (address: string | undefined) => provider.acceptsSource?.(address) ?? true } : {}),
    authorize: webhookHeaders(provider, 'inbound', w.logger),
    async handle(headers, raw, _query, url) {
      const parsed = provider.parseInbound(headers, raw, w.clock.now(), { url });
      if (!parsed.ok) {
        w.logger.warn({ status: parsed.status, reason: parsed.reason }, 'inbound SMS refused');
        return [parsed.status, { error: parsed.reason }];
      }
      const outcome = await deps.handleInbound(parsed.inbound);
      // A batch (inMobile): the rest too, each into the same ledger path.
      for (const more of parsed.inbounds?.slice(1) ?? []) await deps.handleInbound(more);
      // The answer the provider expects (Twilio: empty TwiML, so it texts nothing back).
      if (parsed.reply) return [200, new RawAnswer(parsed.reply.contentType, parsed.reply.body)];
      return [200, { id: outcome.inboundId, action: outcome.action, duplicate: outcome.duplicate }];
    },
  };
}

function consoleMount(w: Wiring, deps: HttpDeps): NonNullable<HttpApiOptions['mounts']>[number]['handle'] {
  const config = w.config;
  const startedAt = w.clock.now();
  const status = (): DaemonStatus => {
    const storage = config().storage;
    const lastReload = deps.lastReload();
    return {
      startedAt,
      pid: process.pid,
      host: hostname(),
      ledger: storage.type === 'sqlite' ? { backend: 'sqlite', path: storage.path } : { backend: 'postgres', path: describeTarget(storage.url) },
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
    clock: w.clock,
    logger: w.logger,
  });
  return (req, res) => (config().main.http.console.enabled ? opsConsole.handle(req, res) : sendJson(res, 404, { error: `no route ${req.method} ${CONSOLE_PREFIX}` }));
}
