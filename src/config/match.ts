import type { SenderPattern, Setup } from './schema.js';

export interface SenderMatch {
  setup: Setup;
  /** Which pattern matched, for logs and `explain`: the exact address beats the domain, the domain beats `*.domain`. */
  rule: 'address' | 'domain' | 'subdomains';
  pattern: string;
}

export interface SenderIndex {
  match(envelopeSender: string): SenderMatch | undefined;
}

export interface SenderConflict<S extends SenderOwner = Setup> {
  pattern: string;
  first: S;
  second: S;
  /** Where in `second.senders` the pattern stands, so the error can name its line. */
  index: number;
}

/** What sender conflicts are checked on: a valid setup, or what could be read of an invalid one. */
export interface SenderOwner {
  id: string;
  file: string;
  /** undefined where an invalid setup has an unreadable entry (keeps the others' positions for line numbers). */
  senders: readonly (SenderPattern | undefined)[];
}

function senderKey(sender: SenderPattern): { kind: SenderPattern['kind']; key: string; label: string } {
  if (sender.kind === 'address') return { kind: 'address', key: sender.address, label: sender.address };
  if (sender.kind === 'domain') return { kind: 'domain', key: sender.domain, label: sender.domain };
  return { kind: 'subdomains', key: sender.domain, label: `*.${sender.domain}` };
}

/** Every sender pattern claimed by two owners (setups), first claim first. */
export function findSenderConflicts<S extends SenderOwner>(owners: readonly S[]): SenderConflict<S>[] {
  const claimed = new Map<string, S>();
  const conflicts: SenderConflict<S>[] = [];
  for (const owner of owners) {
    owner.senders.forEach((sender, index) => {
      if (!sender) return;
      const { kind, key, label } = senderKey(sender);
      const existing = claimed.get(`${kind} ${key}`);
      if (existing && existing !== owner) conflicts.push({ pattern: label, first: existing, second: owner, index });
      else claimed.set(`${kind} ${key}`, owner);
    });
  }
  return conflicts;
}

/** Builds the lookup once per config load; a session does at most three map lookups per MAIL FROM. */
export function createSenderIndex(setups: readonly Setup[]): { index: SenderIndex; conflicts: SenderConflict[] } {
  const addresses = new Map<string, Setup>();
  const domains = new Map<string, Setup>();
  const subdomains = new Map<string, Setup>();
  const maps = { address: addresses, domain: domains, subdomains };
  for (const setup of setups) {
    for (const sender of setup.senders) {
      const { kind, key } = senderKey(sender);
      // The first claim wins here; findSenderConflicts reports the others.
      if (!maps[kind].has(key)) maps[kind].set(key, setup);
    }
  }

  return {
    conflicts: findSenderConflicts(setups),
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
