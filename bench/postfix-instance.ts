/*
 * A private Postfix for bench/postfix.ts: its own config_directory,
 * queue_directory and data_directory under a temp dir, one smtpd on a
 * loopback port (master.cf), `mydestination` the test domain, and every mail
 * put on hold (an access action), so cleanup writes and fsyncs the queue file
 * before the 250 and nothing is delivered or leaves the machine. The system
 * Postfix (/etc/postfix, port 25) is never touched: every command gets `-c`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST, smtpGreets, waitFor } from './harness.js';

const POSTFIX = '/usr/sbin/postfix';

export interface PostfixInstance {
  port: number;
  masterPid: number;
  /** Mails in the hold queue (each one a fsync'd queue file). */
  held(): number;
  stop(): Promise<void>;
}

/**
 * Whether Postfix can be run here; installs it from Debian when it is missing
 * and we are root (its debconf answer "No configuration": no system instance
 * is set up or started). Returns why not, or undefined.
 */
export function postfixUnavailable(): string | undefined {
  if (!existsSync(POSTFIX)) {
    if (process.getuid?.() !== 0) return 'postfix is not installed, and installing it needs root';
    process.stdout.write('installing postfix (apt-get install -y postfix, "No configuration")...\n');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('sh', ['-c', 'echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections'], { env, stdio: 'ignore' });
    const install = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'postfix'], { env, encoding: 'utf8' });
    if (install.status !== 0 || !existsSync(POSTFIX)) return `apt-get install postfix failed: ${(install.stderr || install.error?.message || '').trim().split('\n').pop()}`;
  }
  if (process.getuid?.() !== 0) return 'starting a Postfix instance needs root';
  if (spawnSync('id', ['postfix'], { stdio: 'ignore' }).status !== 0) return 'there is no postfix user';
  return undefined;
}

function mainCf(dir: string): string {
  return [
    'compatibility_level = 3.6',
    `queue_directory = ${dir}/queue`,
    `data_directory = ${dir}/data`,
    'mail_owner = postfix',
    'setgid_group = postdrop',
    'myhostname = postfix.example.test',
    'mydomain = example.test',
    'myorigin = example.test',
    // The SMS domain is "local": any recipient there is accepted (no local_recipient_maps).
    'mydestination = sms.example.test',
    'local_recipient_maps =',
    `inet_interfaces = ${HOST}`,
    'inet_protocols = ipv4',
    'mynetworks = 127.0.0.0/8',
    'smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination',
    // Every mail into the hold queue: durably queued, never delivered.
    'smtpd_data_restrictions = check_client_access static:HOLD',
    'smtpd_client_connection_count_limit = 0',
    'smtpd_client_connection_rate_limit = 0',
    'default_process_limit = 250',
    'alias_maps =',
    'alias_database =',
    'biff = no',
    // Its log, like mail2sms's, goes to a file (through postlogd): logging is part of the cost.
    `maillog_file = ${dir}/maillog`,
    `maillog_file_prefixes = ${dir}`,
    '',
  ].join('\n');
}

function masterCf(port: number): string {
  const rows = [
    // service type private unpriv chroot wakeup maxproc command
    `${HOST}:${port} inet n - n - - smtpd`,
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'local unix - n n - - local',
    'smtp unix - - n - - smtp',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  return rows.join('\n') + '\n';
}

/** Starts the instance (`postfix -c DIR/etc start`) and waits for its SMTP greeting. */
export async function startPostfix(dir: string, port: number): Promise<PostfixInstance> {
  // Postfix's daemons run as the postfix user: the queue must be reachable for them (mkdtemp makes 0700).
  chmodSync(dir, 0o755);
  for (const sub of ['etc', 'queue', 'data']) mkdirSync(join(dir, sub), { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'etc', 'main.cf'), mainCf(dir));
  writeFileSync(join(dir, 'etc', 'master.cf'), masterCf(port));
  execFileSync('chown', ['postfix', join(dir, 'data')]);
  const etc = join(dir, 'etc');
  const started = spawnSync(POSTFIX, ['-c', etc, 'start'], { encoding: 'utf8' });
  if (started.status !== 0) throw new Error(`postfix start failed: ${`${started.stderr}${started.stdout}`.trim()}; see ${dir}/maillog`);
  // Stopped however the bench ends (an error, ^C): a private instance must not outlive it.
  const stopNow = () => void spawnSync(POSTFIX, ['-c', etc, 'stop'], { stdio: 'ignore' });
  process.once('exit', stopNow);
  const stop = async () => {
    process.off('exit', stopNow);
    stopNow();
    const pidFile = join(dir, 'queue', 'pid', 'master.pid');
    await waitFor('Postfix to stop', async () => (existsSync(pidFile) ? undefined : true), 20_000).catch(() => undefined);
  };
  try {
    const masterPid = await waitFor('the Postfix master pid', async () => {
      const pidFile = join(dir, 'queue', 'pid', 'master.pid');
      return existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || undefined : undefined;
    }, 15_000);
    await waitFor('the Postfix SMTP greeting', () => smtpGreets(port), 15_000);
    const held = () => countFiles(join(dir, 'queue', 'hold'));
    return { port, masterPid, held, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function countFiles(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) n += entry.isDirectory() ? countFiles(join(dir, entry.name)) : 1;
  return n;
}
