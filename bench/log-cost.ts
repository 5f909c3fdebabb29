/*
 * What logging costs per SMS on the daemon's main thread, as one 3-part SMS is
 * logged from intake to its last receipt: the way it was before issue 17 (six
 * info lines, a child logger per transaction, message and send, each line
 * written at once) and the way it is (two info lines with their ids as fields,
 * receipts at debug, lines written in batches; src/core/log.ts). Printed, not
 * asserted; the log goes to a temp file, as the daemon's goes to journald.
 *
 *   npm run build && node dist/bench/log-cost.js [--sms 50000] [--runs 3]
 */
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { createLogger } from '../src/core/log.js';

const { values } = parseArgs({ options: { sms: { type: 'string', default: '50000' }, runs: { type: 'string', default: '3' } } });
const SMS = Number(values.sms);
const RUNS = Number(values.runs);
const to = '+4520****00';

type Pattern = (session: Logger, dispatch: Logger, http: Logger, i: number) => void;

const before: Pattern = (session, dispatch, http, i) => {
  const log = session.child({ ref: 'k3j2h4g5f6d7s8a9.1' });
  log.info({ warnings: ['truncated'], segments: 3 }, 'sms text built with warnings');
  log.child({ qid: `Q${i}` }).info({ to, setup: 'alerts', segments: 3 }, 'sms queued');
  dispatch.child({ qid: `Q${i}`, outbox: i }).info({ to, providerId: `sim-${i}`, attempt: 1, parts: 3 }, 'sms sent');
  for (let part = 1; part <= 3; part++) http.info({ providerId: `sim-${i}`, status: 'delivered', outcome: part < 3 ? 'partial' : 'applied' }, 'receipt');
};

const after: Pattern = (session, dispatch, http, i) => {
  session.info({ ref: 'k3j2h4g5f6d7s8a9.1', qid: `Q${i}`, to, setup: 'alerts', segments: 3, warnings: ['truncated'] }, 'sms queued');
  dispatch.info({ qid: `Q${i}`, outbox: i, to, providerId: `sim-${i}`, attempt: 1, parts: 3 }, 'sms sent');
  for (let part = 1; part <= 3; part++) http.debug({ providerId: `sim-${i}`, status: 'delivered', outcome: part < 3 ? 'partial' : 'applied' }, 'receipt');
};

/** CPU µs per SMS for one pattern, 20 SMS a turn of the event loop (the writes go out between turns, as under load). */
function measure(pattern: Pattern, root: Logger): Promise<number> {
  const session = root.child({ stage: 'smtp' }).child({ session: 'k3j2h4g5f6d7s8a9', ip: '127.0.0.1' });
  const [dispatch, http] = [root.child({ stage: 'dispatch' }), root.child({ stage: 'http' })];
  return new Promise((resolve) => {
    let i = 0;
    const start = process.cpuUsage();
    const turn = () => {
      for (let k = 0; k < 20 && i < SMS; k++, i++) pattern(session, dispatch, http, i);
      if (i < SMS) return void setImmediate(turn);
      root.flush(() => {
        const used = process.cpuUsage(start);
        resolve((used.user + used.system) / SMS);
      });
    };
    turn();
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-log-cost-'));
  try {
    for (let run = 1; run <= RUNS; run++) {
      const oldWay = pino({ level: 'info', base: { svc: 'mail2sms' }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd: openSync(join(dir, `before-${run}.log`), 'a'), sync: false }));
      const newWay = createLogger({ fd: openSync(join(dir, `after-${run}.log`), 'a') });
      const b = await measure(before, oldWay);
      const a = await measure(after, newWay);
      process.stdout.write(`run ${run}: before ${b.toFixed(1)} µs CPU per SMS (6 info lines, 3 child loggers), after ${a.toFixed(1)} µs (2 info lines)\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
