import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { alertsSetup, SIM_SECRET, simulatorMessages, simulatorStats, waitFor, writeConfig, type TestDirs } from './helpers.js';
import { freePort, startProcess, type Proc } from './process.js';
import { danishNumbers, loadMail, sendBatch, type BatchItem } from './load.js';

/*
 * kill -9 while dispatch is sending (issue 6): the daemon and the provider
 * simulator run as separate OS processes, so the simulator outlives the kill
 * and keeps its record of every send and its de-duplication log.
 *
 * MAIL2SMS_CRASH_MAILS (default 2000) and MAIL2SMS_CRASH_CONNECTIONS (16) make
 * a bigger run by hand:
 *   MAIL2SMS_CRASH_MAILS=10000 npx vitest run test/crash.test.ts
 */

const MAILS = Number(process.env.MAIL2SMS_CRASH_MAILS ?? 2000);
const CONNECTIONS = Number(process.env.MAIL2SMS_CRASH_CONNECTIONS ?? 16);
/** Simulator latency while the kill is pending: slows dispatch (8 in flight) so the kill lands mid-dispatch. */
const LATENCY_MS = 25;

const procs: Proc[] = [];
let dirs: TestDirs | undefined;
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.kill('SIGKILL')));
  dirs?.cleanup();
  dirs = undefined;
});

function start(args: string[]): Proc {
  const proc = startProcess(args);
  procs.push(proc);
  return proc;
}

async function startDaemon(configFile: string): Promise<{ proc: Proc; smtp: number }> {
  const proc = start(['serve', '-c', configFile]);
  const ready = await proc.waitForLog('mail2sms ready', 30_000);
  return { proc, smtp: (ready.ports as { smtp: number }).smtp };
}

async function putFaults(simUrl: string, faults: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${simUrl}/faults`, { method: 'PUT', body: JSON.stringify(faults) });
  expect(response.status).toBe(200);
}

describe('kill -9 during dispatch', () => {
  it(`${MAILS} mails: every number gets exactly one SMS after a kill -9 mid-dispatch and a restart`, async () => {
    const [simPort, httpPort] = [await freePort(), await freePort()];
    dirs = writeConfig({
      setups: [alertsSetup({ cooldown: 'off' })],
      provider: { listen: `127.0.0.1:${simPort}`, embedded: false, timeout: '5s' },
      main: {
        // A fixed HTTP port: receipts the simulator could not post during the restart are retried into the new daemon.
        http: { listen: `127.0.0.1:${httpPort}` },
        dispatch: { poll_interval: '100ms', retry_base: '100ms', lease: '3s', concurrency: 8 },
        log: { level: 'info' },
      },
    });
    const sim = start(['provider-sim', '--listen', `127.0.0.1:${simPort}`, '--secret', SIM_SECRET, '--receipt-delay', '10']);
    await sim.waitForLog('provider simulator ready');
    const simUrl = `http://127.0.0.1:${simPort}`;
    await putFaults(simUrl, { latency_ms: LATENCY_MS });

    const numbers = danishNumbers(MAILS);
    const runId = Math.random().toString(36).slice(2, 10);
    const items: BatchItem[] = numbers.map((to, i) => ({
      rcpt: `${to}@sms.example.test`,
      message: loadMail({ to: `${to}@sms.example.test`, messageId: `crash-${runId}-${i}@example.test`, text: `crash test ${i}` }),
    }));

    const first = await startDaemon(dirs.configFile);
    // The kill lands when the simulator has taken a random share (10–90 %) of the sends.
    const killAfter = Math.max(1, Math.floor(MAILS * (0.1 + 0.8 * Math.random())));
    let stopWatching = false;
    const killer = (async () => {
      for (;;) {
        if (stopWatching) return undefined;
        const { messages } = await simulatorStats(simUrl);
        if (messages >= killAfter) {
          first.proc.child.kill('SIGKILL');
          await first.proc.exited;
          return messages;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const firstReplies = await sendBatch(first.smtp, items, CONNECTIONS);
    const answeredBeforeKill = firstReplies.filter((r) => r?.code === 250).length;
    expect(firstReplies.every((r) => r === undefined || r.code === 250), 'every answer before the kill is 250').toBe(true);

    let killedAtSeen: number | undefined;
    try {
      killedAtSeen = await waitFor(() => Promise.race([killer, new Promise<undefined>((r) => setTimeout(r, 50))]), `the simulator to see ${killAfter} sends`, 120_000);
    } finally {
      stopWatching = true;
    }
    const seenAfterKill = (await simulatorStats(simUrl)).messages;
    // The kill landed mid-dispatch: the simulator had some of the sends, not all.
    expect(seenAfterKill).toBeGreaterThan(0);
    expect(seenAfterKill).toBeLessThan(MAILS);

    // Restart on the same ledger; the provider is quick again.
    await putFaults(simUrl, {});
    const second = await startDaemon(dirs.configFile);
    // What the client never got an answer for (the kill cut the connection), it sends again, unchanged.
    const resend = items.map((item, i) => ({ item, i })).filter(({ i }) => firstReplies[i] === undefined);
    const resendReplies = await sendBatch(second.smtp, resend.map(({ item }) => item), CONNECTIONS);
    expect(resendReplies.map((r) => r?.code).filter((code) => code !== 250), 'every resent mail is answered 250').toEqual([]);

    const sent = await waitFor(async () => {
      const list = await simulatorMessages(simUrl);
      return list.length >= MAILS ? list : undefined;
    }, `${MAILS} SMS at the simulator`, 60_000);
    // Settled: every row sent or delivered.
    await waitFor(() => {
      const db = new Database(dirs!.dbFile, { readonly: true });
      try {
        return (db.prepare(`SELECT count(*) AS n FROM outbox WHERE status NOT IN ('sent', 'delivered')`).get() as { n: number }).n === 0;
      } finally {
        db.close();
      }
    }, 'every outbox row sent or delivered', 30_000);
    // Receipts still in flight may land; then stop cleanly and read the ledger file.
    expect(await second.proc.kill('SIGTERM')).toBe(0);
    const stats = await simulatorStats(simUrl);

    // The simulator: exactly one accepted SMS per number, for every number.
    const perNumber = new Map<string, number>();
    for (const sms of sent) perNumber.set(sms.to, (perNumber.get(sms.to) ?? 0) + 1);
    const notOnce = numbers.filter((n) => perNumber.get(n) !== 1).map((n) => [n, perNumber.get(n) ?? 0]);
    expect(notOnce, 'numbers without exactly one SMS').toEqual([]);
    expect(sent).toHaveLength(MAILS);
    expect(stats.messages).toBe(MAILS);

    // The ledger: one row per number, each sent or delivered, under the id the simulator gave that send.
    const simIdOf = new Map(sent.map((sms) => [sms.to, sms.id]));
    const db = new Database(dirs.dbFile, { readonly: true });
    const rows = db.prepare('SELECT recipient, status, provider_message_id AS providerId, attempts FROM outbox').all() as {
      recipient: string;
      status: string;
      providerId: string | null;
      attempts: number;
    }[];
    db.close();
    expect(rows).toHaveLength(MAILS);
    expect(new Set(rows.map((r) => r.recipient)).size).toBe(MAILS);
    expect(rows.filter((r) => r.status !== 'sent' && r.status !== 'delivered')).toEqual([]);
    expect(rows.filter((r) => r.providerId !== simIdOf.get(r.recipient))).toEqual([]);

    // Receipts the daemon refused (404) because they came before the send's answer was recorded.
    const countLog = (proc: Proc, msg: string) => proc.lines.filter((line) => line.includes(`"msg":"${msg}"`)).length;
    const unknownReceipts = countLog(first.proc, 'receipt for an unknown provider message id') + countLog(second.proc, 'receipt for an unknown provider message id');
    const resentRows = rows.filter((r) => r.attempts > 1).length;
    const delivered = rows.filter((r) => r.status === 'delivered').length;
    console.log(
      `[crash] mails=${MAILS} connections=${CONNECTIONS} kill when simulator had >=${killAfter}: ` +
        `sends seen at kill=${killedAtSeen} (after exit ${seenAfterKill}), answered 250 before kill=${answeredBeforeKill}, ` +
        `resent by client=${resend.length}, rows with >1 attempt=${resentRows}, duplicates deduped by the simulator=${stats.duplicates}, ` +
        `delivered=${delivered} sent=${MAILS - delivered} (receipts refused as unknown id: ${unknownReceipts})`,
    );
  }, 150_000);
});
