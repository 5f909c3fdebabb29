/*
 * Routes (issue 24): which providers an SMS goes through, in failover order.
 * The first route whose every given condition holds wins; a route without
 * `match` matches everything (the default route). `provider:` alone in the
 * config is one provider and one route.
 */

export interface RouteMatch {
  /** ISO country codes of the recipient's number (DK, US). */
  country?: readonly string[];
  /** E.164 prefixes ("+4520"). */
  prefix?: readonly string[];
  setup?: readonly string[];
  category?: readonly ('alert' | 'marketing')[];
}

export interface Route {
  match?: RouteMatch;
  /** Provider names, in failover order. */
  providers: readonly string[];
  /** Sender for SMS on this route (countries that refuse alphanumeric senders); else the setup's sender_name. */
  sender?: string;
}

export interface RouteTarget {
  /** E.164. */
  recipient: string;
  /** The recipient's country, when the number's metadata tells it. */
  country: string | undefined;
  setupId: string;
  category: 'alert' | 'marketing';
}

function holds(match: RouteMatch | undefined, target: RouteTarget): boolean {
  if (!match) return true;
  if (match.country && !(target.country !== undefined && match.country.includes(target.country))) return false;
  if (match.prefix && !match.prefix.some((prefix) => target.recipient.startsWith(prefix))) return false;
  if (match.setup && !match.setup.includes(target.setupId)) return false;
  if (match.category && !match.category.includes(target.category)) return false;
  return true;
}

/** The route an SMS takes; undefined when none matches (check-config refuses a setup that can reach none). */
export function pickRoute(routes: readonly Route[], target: RouteTarget): Route | undefined {
  return routes.find((route) => holds(route.match, target));
}

/**
 * Failover moves an SMS to the next provider only when the previous one
 * certainly did not send it: no answer before the request was written
 * (refused, DNS, TLS), a 5xx or 429 answer, or an open circuit. Never after an
 * unknown outcome (a timeout after the request was written): the first
 * provider may have sent it, and its de-duplication of our idempotency key
 * cannot stop a second provider from sending it again. A provider that
 * de-duplicates is retried itself instead (routed.ts). Never after a permanent
 * refusal of the recipient either.
 */
export function mayFailOver(result: { ok: false; temporary: boolean; unknown?: boolean }): boolean {
  return result.temporary && !result.unknown;
}
