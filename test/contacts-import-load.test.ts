import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsSetup, openSmtp, sendMail, startTestDaemon, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * Issue 25 item 4: a 100k-row PUT /contacts must not stall SMTP. The rows are
 * parsed and checked off the main thread, one import at a time (a second gets
 * 409). NOOP round trips on an open SMTP session are measured while the
 * import runs: the goal is ≤ 200 ms; the assertion is generous (a shared,
 * loaded 2-core machine) and the numbers are printed.
 */

const TOKEN = 'members-system-token-0123456789abcdef';
const ROWS = 100_000;
let dirs: TestDirs;
let t: TestDaemon;
let httpUrl: string;

beforeAll(async () => {
  dirs = writeConfig({
    main: {
      groups: { members: {}, board: {} },
      http: { listen: '127.0.0.1:0', tokens: [{ name: 'members', sha256: createHash('sha256').update(TOKEN).digest('hex') }] },
      log: { level: 'info' },
    },
    setups: [alertsSetup({ groups: ['members'] })],
  });
  t = await startTestDaemon(dirs);
  httpUrl = `http://127.0.0.1:${t.daemon.ports.http}`;
});
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

function membersCsv(rows: number, bad = false): string {
  const lines = ['id,number,groups,first_name,team,birthday'];
  for (let i = 0; i < rows; i++) {
    const number = bad ? `not-a-number-${i}` : `+4520${100_000 + i}`;
    lines.push(`m${i},${number},members${i % 10 === 0 ? ';board' : ''},Name${i},team-${i % 40},19${String(50 + (i % 50))}-0${1 + (i % 9)}-1${i % 10}`);
  }
  return lines.join('\n') + '\n';
}

const put = (body: string, source = 'members') =>
  fetch(`${httpUrl}/contacts?source=${source}`, { method: 'PUT', headers: { 'content-type': 'text/csv', authorization: `Bearer ${TOKEN}` }, body });

/** NOOP round trips on an open SMTP session while `work` runs: the worst turn, and how many were made. */
async function noopsDuring<T>(start: () => Promise<T>): Promise<{ result: T; worstMs: number; noops: number }> {
  const smtp = openSmtp(t.smtpPort);
  await smtp.say();
  await smtp.say('EHLO client.test');
  // Started once the session is open: the work's first turn is measured too.
  const work = start();
  let worstMs = 0;
  let noops = 0;
  let done = false;
  const finished = work.finally(() => (done = true));
  // Each turn: a NOOP round trip and a 5 ms pause; a blocked event loop delays either, so the turn is timed whole.
  while (!done) {
    const start = performance.now();
    expect(await smtp.say('NOOP')).toMatch(/^250 /);
    noops++;
    await new Promise((resolve) => setTimeout(resolve, 5));
    worstMs = Math.max(worstMs, performance.now() - start - 5);
  }
  smtp.close();
  return { result: await finished, worstMs, noops };
}

describe('a 100k-row contacts import next to SMTP', () => {
  it('keeps NOOP answered while it runs, and a second import at the same time gets 409', async () => {
    const body = membersCsv(ROWS);
    const started = performance.now();
    const { result, worstMs, noops } = await noopsDuring(async () => {
      const first = put(body);
      // Once the first is under way, a second import is refused rather than doubling the work and the memory.
      await new Promise((resolve) => setTimeout(resolve, 200));
      const second = await put('id,number\nx1,+4520000001\n', 'other');
      // Mail keeps arriving meanwhile: how long its 250 takes is printed (the ledger writes the contacts in one transaction).
      const mails: number[] = [];
      let imported = false;
      const done = first.finally(() => (imported = true));
      while (!imported) {
        const sent = performance.now();
        expect((await sendMail({ port: t.smtpPort, from: 'ops@example.test', to: `+45201${String(mails.length).padStart(5, '0')}@sms.example.test`, text: 'during import' })).code).toBe(250);
        mails.push(performance.now() - sent);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      console.log(`bench: ${mails.length} mails during the import; slowest 250 after ${Math.max(...mails).toFixed(0)} ms`);
      return { first: await done, second };
    });
    const seconds = (performance.now() - started) / 1000;
    console.log(`bench: PUT /contacts ${ROWS} rows took ${seconds.toFixed(1)} s; worst NOOP ${worstMs.toFixed(0)} ms over ${noops} NOOPs`);
    expect(result.second.status).toBe(409);
    expect(await result.second.json()).toMatchObject({ error: expect.stringMatching(/another contacts import is running/) as unknown });
    const firstBody = (await result.first.json()) as Record<string, unknown>;
    expect(result.first.status, JSON.stringify(firstBody).slice(0, 500)).toBe(200);
    expect(firstBody).toMatchObject({ source: 'members', added: ROWS });
    // The goal is 200 ms; this bound only catches a blocked event loop (seconds), not a loaded machine.
    expect(worstMs).toBeLessThan(1500);
  }, 180_000);

  it('100k invalid rows: 400 with the first problems, and NOOP still answered', async () => {
    const invalid = membersCsv(ROWS, true);
    const { result, worstMs, noops } = await noopsDuring(() => put(invalid, 'broken'));
    console.log(`bench: PUT /contacts ${ROWS} invalid rows: worst NOOP ${worstMs.toFixed(0)} ms over ${noops} NOOPs`);
    expect(result.status).toBe(400);
    const answer = (await result.json()) as { error: string; errors: { line: number; message: string }[] };
    expect(answer.error).toBe(`${ROWS} invalid row(s); nothing was imported`);
    expect(answer.errors).toHaveLength(100);
    expect(answer.errors[0]).toEqual({ line: 2, message: expect.stringMatching(/^number: / ) as unknown });
    expect(worstMs).toBeLessThan(1500);
  }, 180_000);
});
