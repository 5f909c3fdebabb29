import type { Config } from '../config/load.js';
import type { Clock } from '../core/clock.js';
import { refusal, type Refusal } from '../core/errors.js';
import { verifyPassword } from '../core/passwords.js';

/** A real hash nobody's password matches, verified for unknown users so a login costs the same either way. */
const UNKNOWN_USER_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$' + Buffer.alloc(32).toString('base64');

/** Who may connect and log in: connection rate per address, AUTH with a lockout per address. */
export function createAccessControl(deps: { clock: Clock }) {
  // Connections per client address in the current minute.
  const connections = new Map<string, { count: number; since: number }>();
  // Failed AUTHs per client address in the current hour; over the limit the address is refused until the hour ends.
  const authFailures = new Map<string, { count: number; since: number }>();

  function connectionAllowed(config: Config, ip: string): boolean {
    const now = deps.clock.now();
    let entry = connections.get(ip);
    if (!entry || now - entry.since >= 60_000) {
      if (connections.size > 10_000) connections.clear(); // bounded under a flood of addresses
      entry = { count: 0, since: now };
      connections.set(ip, entry);
    }
    entry.count++;
    return entry.count <= config.main.smtp.max_connection_rate;
  }

  async function authenticate(config: Config, username: string, password: string, ip: string): Promise<Refusal | undefined> {
    const now = deps.clock.now();
    const record = authFailures.get(ip);
    if (record && now - record.since > 3_600_000) authFailures.delete(ip);
    const failures = authFailures.get(ip);
    if (failures && failures.count >= config.main.smtp.auth_failure_limit) {
      return refusal('auth_locked', `Too many failed logins from ${ip}; try again later`);
    }
    const user = config.users.get(username);
    // Unknown users cost the same scrypt as known ones, so timing does not tell which exist.
    const ok = await verifyPassword(password, user?.passwordHash ?? UNKNOWN_USER_HASH);
    if (ok && user) {
      authFailures.delete(ip);
      return undefined;
    }
    if (authFailures.size > 10_000 && !failures) authFailures.clear(); // bounded when guesses come from many addresses
    authFailures.set(ip, { count: (failures?.count ?? 0) + 1, since: failures?.since ?? now });
    await new Promise((resolve) => setTimeout(resolve, config.main.smtp.auth_failure_delay));
    return refusal('auth_failed', 'Authentication credentials invalid');
  }

  return { connectionAllowed, authenticate };
}
