import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsSetup, queueIdOf, sendMail, simulatorMessages, simulatorStats, startTestDaemon, waitFor, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * A full disk, for real: the ledger lives on a small tmpfs that the test fills
 * up. Mails are refused with 451 while it is full, nothing answered 250 is lost,
 * and the refused mails are accepted once there is room again — each sent once.
 * (The tests run as root on these machines, which mounting needs.)
 */

let dirs: TestDirs;
let mount: string;
let t: TestDaemon | undefined;

beforeAll(() => {
  dirs = writeConfig({ setups: [alertsSetup({ cooldown: 'off' })] });
  mount = join(dirs.dir, 'small-disk');
  mkdirSync(mount);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mount]);
});
afterAll(async () => {
  await t?.stop();
  execFileSync('umount', ['-l', mount]);
  dirs.cleanup();
});

/** Writes a filler file until the disk refuses more. */
function fillDisk(file: string): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(16 * 1024, 120);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}

describe('a full disk', () => {
  it('answers 451 while full, loses nothing it answered 250 to, and takes the retries once there is room', async () => {
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(dirs.configFile, readFileSync(dirs.configFile, 'utf8').replace('path: data/ledger.db', `path: ${join(mount, 'ledger.db')}`));
    t = await startTestDaemon(dirs);
    const port = t.smtpPort;
    const mail = (i: number) => ({
      port,
      from: 'ops@example.test',
      to: `+${4520100700 + i}@sms.example.test`,
      text: `Disk test ${i} `.repeat(20),
      messageId: `<disk-${i}@example.test>`,
    });

    const before = await sendMail(mail(0));
    expect(before.code).toBe(250);

    const filler = join(mount, 'filler');
    fillDisk(filler);
    const answers = new Map<number, string>();
    for (let i = 1; i <= 40; i++) answers.set(i, (await sendMail(mail(i))).response);
    const refused = [...answers].filter(([, reply]) => reply.startsWith('451 4.3.0'));
    const accepted = [...answers].filter(([, reply]) => reply.startsWith('250'));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length + accepted.length).toBe(40);

    // Everything answered 250 is in the ledger; nothing refused is.
    for (const [i, reply] of accepted) expect((await t.daemon.ledger.outbox({ queueId: queueIdOf(reply) })).map((r) => r.recipient)).toEqual([`+${4520100700 + i}`]);
    for (const [i] of refused) expect(await t.daemon.ledger.outbox({ recipient: `+${4520100700 + i}` })).toEqual([]);

    rmSync(filler);
    for (const [i] of refused) expect((await sendMail(mail(i))).code).toBe(250);
    // A retry of a mail that was accepted is recognised, not sent twice.
    if (accepted[0]) expect((await sendMail(mail(accepted[0][0]))).response).toMatch(/^250 2\.0\.0 Already queued as /);

    const simUrl = t.simUrl;
    const messages = await waitFor(async () => {
      const list = await simulatorMessages(simUrl);
      return list.length >= 41 ? list : undefined;
    }, 'all 41 SMS', 30_000);
    const numbers = messages.map((m) => m.to).sort();
    expect(numbers).toEqual(Array.from({ length: 41 }, (_, i) => `+${4520100700 + i}`));
    expect((await simulatorStats(simUrl)).duplicates).toBe(0);
  });
});
