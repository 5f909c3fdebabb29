import { countryOfE164 } from '../numbers/parse.js';
import type { Breaker, BreakerSnapshot } from './breaker.js';
import type { ProviderGate } from './provider-gate.js';
import { mayFailOver, pickRoute, type Route } from './routes.js';
import type { OutgoingSms, SendResult, SmsProvider } from './types.js';

/*
 * Several named providers behind the one SmsProvider the dispatcher calls
 * (issue 24): each SMS takes its route's providers in order, skipping one
 * whose circuit is open, and moves on only when the one before certainly did
 * not send it (routes.ts, mayFailOver). Every hop is kept on the result, so
 * the log and the ledger can say "sent via gw after twilio-us: connection
 * refused". Receipts and inbound SMS reach each provider by its name.
 */

export interface NamedProvider {
  provider: SmsProvider;
  breaker: Breaker;
  /** Its own concurrency and rate (provider-gate.ts); none = only dispatch's. */
  gate?: ProviderGate;
}

export interface RoutedProviderOptions {
  providers: ReadonlyMap<string, NamedProvider>;
  routes: readonly Route[];
  /** Setup → category, from the running config (routes may match on category). */
  categoryOf(setupId: string): 'alert' | 'marketing';
  /** Where a provider posts its receipts (`<public url>/receipts/<name>`), from the dispatcher's receipts URL. */
  receiptUrl(name: string, receipts: string): string;
}

export interface RoutedProvider extends SmsProvider {
  /** The provider behind a callback path's name. */
  byName(name: string): SmsProvider | undefined;
  names(): string[];
  breakers(): Record<string, BreakerSnapshot>;
}

export function createRoutedProvider(options: RoutedProviderOptions): RoutedProvider {
  const { providers, routes } = options;

  async function send(sms: OutgoingSms): Promise<SendResult> {
    const setupId = sms.setupId ?? '';
    const route = pickRoute(routes, { recipient: sms.to, country: countryOfE164(sms.to), setupId, category: options.categoryOf(setupId) });
    if (!route) return { ok: false, temporary: false, reason: 'no route matches this number and setup' };
    const hops: string[] = [];
    for (const name of route.providers) {
      const named = providers.get(name);
      if (!named) {
        hops.push(`${name}: not configured`);
        continue;
      }
      if (!named.breaker.allow()) {
        hops.push(`${name}: circuit open`);
        continue;
      }
      const leave = await named.gate?.enter();
      let result: SendResult;
      try {
        result = await named.provider.send({ ...sms, from: route.sender ?? sms.from, callbackUrl: options.receiptUrl(name, sms.callbackUrl) });
      } finally {
        leave?.();
      }
      if (result.ok) {
        named.breaker.success();
        return { ...result, via: name, ...(hops.length > 0 ? { hops } : {}) };
      }
      // A refusal of one SMS (a bad number) says nothing about the provider's health.
      if (result.temporary) named.breaker.failure(result.reason);
      if (!mayFailOver(result)) {
        // An unknown outcome at a provider that drops repeats is safe to retry there: not unknown to the caller.
        const unknown = result.unknown === true && !named.provider.idempotent;
        return { ...result, unknown, via: name, ...(hops.length > 0 ? { hops } : {}) };
      }
      hops.push(`${name}: ${result.reason}`);
    }
    return { ok: false, temporary: true, reason: `no provider of the route took it (${hops.join('; ')})`, hops };
  }

  const all = () => [...providers.values()].map((named) => named.provider);
  return {
    name: 'routes',
    // The dispatcher's `unknown` handling is decided per provider above.
    idempotent: false,
    send,
    byName: (name) => providers.get(name)?.provider,
    names: () => [...providers.keys()],
    breakers: () => Object.fromEntries([...providers].map(([name, named]) => [name, named.breaker.snapshot()])),
    checkWebhookHeaders: (kind, headers) => all()[0]?.checkWebhookHeaders(kind, headers),
    parseReceipt: () => ({ ok: false, status: 400, reason: 'receipts go to /receipts/<provider name>' }),
    parseInbound: () => ({ ok: false, status: 400, reason: 'inbound SMS go to /inbound/<provider name>' }),
    close: () => all().forEach((provider) => provider.close()),
  };
}
