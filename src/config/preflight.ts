import { embeddedSimulators } from './provider-plan.js';
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { formatListen, type ListenAddress } from '../core/units.js';
import { displayPath, lineOf, type Config, type ConfigIssue } from './load.js';

/*
 * What `serve` would fail on although the config is valid: a ledger directory
 * the service user cannot write, two listeners on one port, a port below 1024
 * without the capability, an address this machine does not have, a certificate
 * that does not parse, does not match its key, or has expired. `check-config`
 * (the systemd unit's ExecStartPre) runs these, so the failure is one clear
 * line before start rather than a stack after it.
 */

export interface PreflightEnv {
  /** Root, or CAP_NET_BIND_SERVICE among the effective capabilities (Linux /proc/self/status CapEff). */
  canBindLowPorts: boolean;
  /** Ports below this need CAP_NET_BIND_SERVICE (net.ipv4.ip_unprivileged_port_start; 0 in most containers). */
  unprivilegedPortStart: number;
  /** Addresses of this machine's interfaces; empty when they cannot be read (then not checked). */
  localAddresses: ReadonlySet<string>;
  now: number;
}

export function systemPreflightEnv(): PreflightEnv {
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  };
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(read('/proc/self/status') ?? '')?.[1];
  const CAP_NET_BIND_SERVICE = 10n;
  const start = Number((read('/proc/sys/net/ipv4/ip_unprivileged_port_start') ?? '1024').trim());
  let addresses = new Set<string>();
  try {
    addresses = new Set(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)));
  } catch {
    // No netlink (the systemd unit's RestrictAddressFamilies): the addresses are unknown, and not checked.
  }
  return {
    canBindLowPorts: process.getuid?.() === 0 || (capEff !== undefined && ((BigInt(`0x${capEff}`) >> CAP_NET_BIND_SERVICE) & 1n) === 1n),
    unprivilegedPortStart: Number.isInteger(start) ? start : 1024,
    localAddresses: addresses,
    now: Date.now(),
  };
}

export function preflight(config: Config, env: PreflightEnv = systemPreflightEnv()): ConfigIssue[] {
  // On PostgreSQL the ledger is no file here: only the runtime directory must be writable.
  const storage = config.storage.type === 'sqlite' ? storageProblems(config) : [];
  return [...storage, ...runtimeProblems(config), ...listenProblems(config, env), ...tlsProblems(config, env.now)];
}

function issue(config: Config, path: string[], message: string): ConfigIssue {
  return { file: displayPath(config.file), ...lineOf(config.file, path), field: path.join('.'), message };
}

function storageProblems(config: Config): ConfigIssue[] {
  const file = config.storagePath;
  if (existsSync(file)) {
    for (const path of [file, `${file}-wal`, `${file}-shm`].filter(existsSync)) {
      try {
        accessSync(path, constants.R_OK | constants.W_OK);
      } catch {
        return [issue(config, ['storage', 'path'], `${path} is not readable and writable by this user (uid ${process.getuid?.() ?? '?'}); chown it to the service user`)];
      }
    }
  }
  // The ledger's directory must take new files (the WAL, backups' temporary files).
  const why = cannotCreateIn(dirname(file));
  return why ? [issue(config, ['storage', 'path'], `cannot create the ledger's files in ${why}`)] : [];
}

/** The pid file and reload answer; next to the SQLite ledger that directory is checked above already. */
function runtimeProblems(config: Config): ConfigIssue[] {
  const { dir, from } = config.runtime;
  if (from === 'storage.path' && config.storage.type === 'sqlite') return [];
  const why = cannotCreateIn(dir);
  if (!why) return [];
  const chosen = from === 'runtime_dir' ? '' : ` (runtime_dir is not set, so ${from === 'RUNTIME_DIRECTORY' ? '$RUNTIME_DIRECTORY' : 'the config file\'s directory'} is used)`;
  const hint = from === 'runtime_dir' ? '' : '; set runtime_dir to a directory the service user can write, or run under the systemd unit (RuntimeDirectory=mail2sms)';
  return [issue(config, ['runtime_dir'], `cannot create the pid file in ${why}${chosen}${hint}`)];
}

/** Why files cannot be created in `dir` (or in the nearest existing parent, which would create it), or undefined when they can. */
function cannotCreateIn(dir: string): string | undefined {
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  if (!statSync(dir).isDirectory()) return `${dir}: not a directory`;
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return undefined;
  } catch {
    return `${dir}: not writable by this user (uid ${process.getuid?.() ?? '?'})`;
  }
}

function listenProblems(config: Config, env: PreflightEnv): ConfigIssue[] {
  const listeners: [string[], ListenAddress][] = [
    [['smtp', 'listen'], config.main.smtp.listen],
    [['http', 'listen'], config.main.http.listen],
    ...embeddedSimulators(config.main).map((sim): [string[], ListenAddress] => [[...sim.path, 'listen'], sim.config.listen]),
  ];
  const problems: ConfigIssue[] = [];
  const taken = new Map<number, string>();
  for (const [path, listen] of listeners) {
    const where = formatListen(listen);
    const other = listen.port === 0 ? undefined : taken.get(listen.port);
    if (other) problems.push(issue(config, path, `${where}: port ${listen.port} is also ${other}; each listener needs its own port`));
    taken.set(listen.port, path.join('.'));
    if (listen.port !== 0 && listen.port < env.unprivilegedPortStart && !env.canBindLowPorts) {
      problems.push(issue(config, path, `${where}: ports below ${env.unprivilegedPortStart} need root or CAP_NET_BIND_SERVICE (the systemd unit grants it: AmbientCapabilities=CAP_NET_BIND_SERVICE)`));
    }
    const wildcard = listen.host === '0.0.0.0' || listen.host === '::';
    if (isIP(listen.host) !== 0 && !wildcard && env.localAddresses.size > 0 && !env.localAddresses.has(listen.host)) {
      problems.push(issue(config, path, `${where}: ${listen.host} is not an address of this machine (${[...env.localAddresses].join(', ')}); use one of them, or 0.0.0.0 in a container`));
    }
  }
  return problems;
}

function tlsProblems(config: Config, now: number): ConfigIssue[] {
  if (!config.tls) return [];
  try {
    createSecureContext({ cert: config.tls.cert, key: config.tls.key });
  } catch (error) {
    return [issue(config, ['smtp', 'tls'], `the certificate and key cannot be used together: ${(error as Error).message}`)];
  }
  try {
    const cert = new X509Certificate(config.tls.cert);
    if (Date.parse(cert.validTo) < now) return [issue(config, ['smtp', 'tls', 'cert'], `the certificate expired on ${new Date(cert.validTo).toISOString()}`)];
  } catch (error) {
    return [issue(config, ['smtp', 'tls', 'cert'], `is not a PEM certificate: ${(error as Error).message}`)];
  }
  return [];
}
