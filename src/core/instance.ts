import { readFileSync } from 'node:fs';

/*
 * One daemon per ledger. `mail2sms.pid` next to the ledger names the running
 * one; a second start finds it there and says so, instead of failing later on
 * a port with a stack trace.
 */

export class AlreadyRunningError extends Error {
  readonly code = 'already_running';
  constructor(readonly pid: number, where: string) {
    super(`another mail2sms (pid ${pid}) is running on ${where}; stop it first (systemctl stop mail2sms, or kill ${pid})`);
    this.name = 'AlreadyRunningError';
  }
}

/** The pid in `pidFile` when that process is alive and is a mail2sms (a pid reused after a crash or reboot is not). */
export function runningInstance(pidFile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: alive, but another user's (the service user's, seen from an admin shell).
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
  }
  try {
    // The script it runs, not the interpreter: Node itself may live under a path
    // named mail2sms (scripts/node24.sh puts it in .../mail2sms/node-24).
    const [, ...args] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!args.some((arg) => /(^|\/)mail2sms(\.js)?$/.test(arg))) return undefined;
  } catch {
    // No /proc (not Linux) or no access: trust the pid file.
  }
  return pid;
}

/** Throws AlreadyRunningError when a live mail2sms owns `pidFile`. */
export function assertNotRunning(pidFile: string, where: string): void {
  const pid = runningInstance(pidFile);
  if (pid !== undefined) throw new AlreadyRunningError(pid, where);
}

/** `listen EADDRINUSE 127.0.0.1:9090` in an admin's words, naming what wanted the port. */
export function describeListenError(error: unknown, roles: Record<string, string>): string | undefined {
  const e = error as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e?.syscall !== 'listen' || (e.code !== 'EADDRINUSE' && e.code !== 'EACCES' && e.code !== 'EADDRNOTAVAIL')) return undefined;
  const where = `${e.address?.includes(':') ? `[${e.address}]` : e.address}:${e.port}`;
  const role = roles[String(e.port)] ?? 'a listener';
  if (e.code === 'EADDRINUSE') return `${where} (${role}) is already in use by another program`;
  if (e.code === 'EACCES') return `${where} (${role}): permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)`;
  return `${where} (${role}): no such address on this machine`;
}
