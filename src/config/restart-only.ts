import { isDeepStrictEqual } from 'node:util';
import type { Config } from './load.js';

/*
 * Keys the daemon reads once, when it starts (src/daemon.ts wires the ledger,
 * provider, dispatch, HTTP and relay from them; smtp/server.ts builds the SMTP
 * server from the smtp ones). A reload swaps the config in, but these keep
 * their running values until a restart, so a reload names the ones that
 * changed instead of staying silent. A key read per session or per message
 * (setups, sms_domains, consent, limits, max_message_size, http.tokens, http.console, …)
 * is not listed: a reload applies it.
 */

type Section = 'smtp' | 'http' | 'storage' | 'provider' | 'dispatch' | 'log' | 'notify';

/** Per section: the restart-only keys, or every key but the ones read live. */
const RESTART_ONLY: Record<Section, { keys: readonly string[] } | { allBut: readonly string[] }> = {
  smtp: { keys: ['listen', 'hostname', 'max_clients', 'socket_timeout', 'proxy_protocol', 'require_tls'] },
  http: { keys: ['listen', 'public_url'] },
  storage: { allBut: [] },
  provider: { allBut: [] },
  // X-SMS-Send-At is checked at intake, per mail.
  dispatch: { allBut: ['max_schedule_ahead'] },
  log: { allBut: [] },
  notify: { keys: ['relay'] },
};

/**
 * Whether a main-config key (`smtp.listen`, `provider.receipts.secret`) keeps
 * its running value until a restart; the configuration reference marks these.
 */
export function isRestartOnly(path: string): boolean {
  const [section, key] = path.split('.');
  const rule = RESTART_ONLY[section as Section];
  if (!rule || key === undefined) return false;
  const name = key.replace(/\[\]$/, '');
  return 'keys' in rule ? rule.keys.includes(name) : !rule.allBut.includes(name);
}

/**
 * The restart-only keys whose value differs between the running config and a
 * newly loaded one, as `section.key`, in the order of the list above.
 */
export function restartOnlyChanges(running: Config, next: Config): string[] {
  const changed: string[] = [];
  for (const [section, rule] of Object.entries(RESTART_ONLY) as [Section, (typeof RESTART_ONLY)[Section]][]) {
    const before: Record<string, unknown> = running.main[section] ?? {};
    const after: Record<string, unknown> = next.main[section] ?? {};
    const keys = 'keys' in rule ? rule.keys : [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((key) => !rule.allBut.includes(key));
    for (const key of keys) if (!isDeepStrictEqual(before[key], after[key])) changed.push(`${section}.${key}`);
  }
  // The pid file and reload answer stay where the daemon wrote them at start.
  if (running.runtime.dir !== next.runtime.dir) changed.push('runtime_dir');
  // Which SMTP commands are offered is fixed when the server is built.
  if ((running.tls === undefined) !== (next.tls === undefined)) changed.push(`smtp.tls (STARTTLS turned ${next.tls ? 'on' : 'off'})`);
  if ((running.users.size > 0) !== (next.users.size > 0)) changed.push(`smtp_auth in setups (AUTH turned ${next.users.size > 0 ? 'on' : 'off'})`);
  return changed;
}
