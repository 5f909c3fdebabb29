import { BlockList, isIPv4 } from 'node:net';
import type { Config } from '../config/load.js';
import type { Clock } from '../core/clock.js';
import { refusal, type Refusal } from '../core/errors.js';
import { verifyPassword } from '../core/passwords.js';
import { isAuthorisedNetwork, normaliseIp } from '../intake/policy.js';
import { createRateCounter } from '../core/rate-counter.js';

/** A real hash nobody's password matches, verified for unknown users so a login costs the same either way. */
const UNKNOWN_USER_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$' + Buffer.alloc(32).toString('base64');

/**
 * Who may connect and log in: connection rate and concurrent connections per
 * address (with capacity kept for authorised networks), AUTH with a lockout per address.
 */
export function createAccessControl(deps: { clock: Clock }) {
  // Connections per client address in the current minute.
  const connections = createRateCounter(60_000);
  // Open connections: session id → client address, and how many each address holds.
  const open = new Map<string, string>();
  const openPerAddress = new Map<string, number>();
  // Failed AUTHs per client address in the current hour; over the limit the address is refused until the hour ends.
  const authFailures = new Map<string, { count: number; since: number }>();

  // smtp.connection_limit_exceptions' own ranges, built once per config (a reload brings a new one).
  let exceptions: { config: Config; ranges: BlockList } | undefined;

  /** Whether the per-client caps skip this client: smtp.connection_limit_exceptions (default: every setup's authorize.ip). */
  function exempt(config: Config, ip: string): boolean {
    const listed = config.main.smtp.connection_limit_exceptions;
    if (listed.length === 0) return false;
    if (listed.includes('authorize.ip') && isAuthorisedNetwork(config, ip)) return true;
    if (exceptions?.config !== config) {
      const ranges = new BlockList();
      for (const range of listed) if (range !== 'authorize.ip') ranges.addSubnet(range.address, range.prefix, range.family);
      exceptions = { config, ranges };
    }
    const address = normaliseIp(ip);
    return exceptions.ranges.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
  }

  function connectionAllowed(config: Config, ip: string): boolean {
    const count = connections.hit(ip, deps.clock.now());
    return count <= config.main.smtp.max_connection_rate || exempt(config, ip);
  }

  /**
   * Counts a new connection in, or says why not: one address may hold only
   * max_clients_per_address (unless exempt), and the last reserved_clients slots are for
   * authorised networks, so a flood from outside cannot keep them out.
   */
  function admit(config: Config, sessionId: string, ip: string): Refusal | undefined {
    const smtp = config.main.smtp;
    const held = openPerAddress.get(ip) ?? 0;
    if (held >= smtp.max_clients_per_address && !exempt(config, ip)) {
      return refusal('connection_rate', `Too many concurrent connections from ${ip} (at most ${smtp.max_clients_per_address}); close some first`);
    }
    const reserved = Math.min(smtp.reserved_clients, Math.floor(smtp.max_clients / 2));
    if (open.size >= smtp.max_clients - reserved && !isAuthorisedNetwork(config, ip)) {
      return refusal('connection_rate', 'Too many connections; try again later');
    }
    open.set(sessionId, ip);
    openPerAddress.set(ip, held + 1);
    return undefined;
  }

  function release(sessionId: string): void {
    const ip = open.get(sessionId);
    if (ip === undefined) return;
    open.delete(sessionId);
    const held = (openPerAddress.get(ip) ?? 1) - 1;
    if (held > 0) openPerAddress.set(ip, held);
    else openPerAddress.delete(ip);
  }

  /**
   * The attempt is counted before the scrypt await, so parallel guesses each
   * see the ones before them; a success takes back only its own count (another
   * user's login from the same address does not wipe the guesses).
   */
  async function authenticate(config: Config, username: string, password: string, ip: string): Promise<Refusal | undefined> {
    const now = deps.clock.now();
    const record = authFailures.get(ip);
    if (record && now - record.since > 3_600_000) authFailures.delete(ip);
    if (authFailures.size > 10_000 && !authFailures.has(ip)) authFailures.clear(); // bounded when guesses come from many addresses
    const attempts = authFailures.get(ip) ?? { count: 0, since: now };
    if (attempts.count >= config.main.smtp.auth_failure_limit) {
      return refusal('auth_locked', `Too many failed logins from ${ip}; try again later`);
    }
    attempts.count++;
    authFailures.set(ip, attempts);
    const user = config.users.get(username);
    // Unknown users cost the same scrypt as known ones, so timing does not tell which exist.
    const ok = await verifyPassword(password, user?.passwordHash ?? UNKNOWN_USER_HASH);
    if (ok && user) {
      attempts.count--;
      if (attempts.count <= 0 && authFailures.get(ip) === attempts) authFailures.delete(ip);
      return undefined;
    }
    await new Promise((resolve) => setTimeout(resolve, config.main.smtp.auth_failure_delay));
    return refusal('auth_failed', 'Authentication credentials invalid');
  }

  return { connectionAllowed, admit, release, authenticate };
}
