import type { Setup } from './schema.js';

export interface SenderMatch {
  setup: Setup;
  /** Which pattern matched, for logs and `explain`: the exact address beats the domain, the domain beats `*.domain`. */
  rule: 'address' | 'domain' | 'subdomains';
  pattern: string;
}

export interface SenderIndex {
  match(envelopeSender: string): SenderMatch | undefined;
}

export interface SenderConflict {
  pattern: string;
  first: Setup;
  second: Setup;
}

/** Builds the lookup once per config load; a session does at most three map lookups per MAIL FROM. */
export function createSenderIndex(setups: readonly Setup[]): { index: SenderIndex; conflicts: SenderConflict[] } {
  const addresses = new Map<string, Setup>();
  const domains = new Map<string, Setup>();
  const subdomains = new Map<string, Setup>();
  const conflicts: SenderConflict[] = [];

  for (const setup of setups) {
    for (const sender of setup.senders) {
      const [map, key, label] =
        sender.kind === 'address'
          ? [addresses, sender.address, sender.address]
          : sender.kind === 'domain'
            ? [domains, sender.domain, sender.domain]
            : [subdomains, sender.domain, `*.${sender.domain}`];
      const existing = map.get(key);
      if (existing && existing !== setup) conflicts.push({ pattern: label, first: existing, second: setup });
      else map.set(key, setup);
    }
  }

  return {
    conflicts,
    index: {
      match(envelopeSender) {
        const address = envelopeSender.trim().toLowerCase();
        const exact = addresses.get(address);
        if (exact) return { setup: exact, rule: 'address', pattern: address };
        const domain = address.slice(address.lastIndexOf('@') + 1);
        const byDomain = domains.get(domain);
        if (byDomain) return { setup: byDomain, rule: 'domain', pattern: domain };
        // `*.example.test` covers a.example.test and a.b.example.test, not example.test itself.
        for (let dot = domain.indexOf('.'); dot !== -1; dot = domain.indexOf('.', dot + 1)) {
          const parent = domain.slice(dot + 1);
          const bySubdomain = subdomains.get(parent);
          if (bySubdomain) return { setup: bySubdomain, rule: 'subdomains', pattern: `*.${parent}` };
        }
        return undefined;
      },
    },
  };
}
