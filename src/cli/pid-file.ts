import { readFileSync } from 'node:fs';

/*
 * A pid file outlives a crashed daemon, and the kernel reuses pids: before
 * signalling, check that the process is a mail2sms daemon (its command line),
 * so `mail2sms reload` never sends SIGHUP to whatever got the old number.
 */

export type PidOwner = { kind: 'mail2sms' } | { kind: 'other'; command: string } | { kind: 'gone' } | { kind: 'unknown' };

/** What runs under `pid`: a mail2sms `serve`, something else, nothing, or unknown (no /proc on this system). */
export function pidOwner(pid: number): PidOwner {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return { kind: 'unknown' };
    try {
      readFileSync('/proc/self/cmdline');
    } catch {
      return { kind: 'unknown' };
    }
    return { kind: 'gone' };
  }
  const args = raw.split('\0').filter(Boolean);
  const isOurs = args.some((arg) => /mail2sms(\.js)?$/.test(arg)) && args.includes('serve');
  return isOurs ? { kind: 'mail2sms' } : { kind: 'other', command: args.join(' ').slice(0, 200) };
}
