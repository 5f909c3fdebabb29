import { it } from 'vitest';
import { performance } from 'node:perf_hooks';
import { alertsSetup, SIM_SECRET, simulatorMessages, writeConfig } from './helpers.js';
import { danishNumbers, loadMail, sendBatch } from './load.js';
import { startTestPostgres } from './pg-server.js';
import { freePort, startProcess } from './process.js';

it('probe', async () => {
  let t = performance.now();
  const lap = (what: string) => { const n = performance.now(); console.log(what, Math.round(n - t)); t = n; };
  const server = await startTestPostgres(); lap('pg start');
  const url = await server.createDatabase(); lap('create db');
  const simPort = await freePort();
  const sim = startProcess(['provider-sim', '--listen', `127.0.0.1:${simPort}`, '--secret', SIM_SECRET, '--receipt-delay', '10']);
  await sim.waitForLog('provider simulator ready'); lap('sim');
  const d = writeConfig({ setups: [alertsSetup({ cooldown: 'off' })], provider: { listen: `127.0.0.1:${simPort}`, embedded: false },
    main: { storage: process.env.PROBE_SQLITE ? { path: 'data/x.db' } : { type: 'postgres', url, pool: 12 }, http: { listen: '127.0.0.1:0' }, log: { level: 'info' } } });
  const p = startProcess(['serve', '-c', d.configFile]);
  const ready = await p.waitForLog('mail2sms ready', 30000); lap('daemon');
  const numbers = danishNumbers(300, 4520600000);
  const items = numbers.map((to, i) => ({ rcpt: `${to}@sms.example.test`, message: loadMail({ to: `${to}@sms.example.test`, messageId: `p${i}@x`, text: `t ${i}` }) }));
  await sendBatch((ready.ports as { smtp: number }).smtp, items, 16); lap('300 mails');
  for (;;) { const m = await simulatorMessages(`http://127.0.0.1:${simPort}`); if (m.length >= 300) break; await new Promise((r) => setTimeout(r, 50)); }
  lap('300 sent');
  console.log(p.lines.filter((l) => /warn|error|"level":[456]/.test(l)).slice(0, 5).join('\n'));
  await p.kill('SIGKILL'); await sim.kill('SIGKILL'); await server.stop(); d.cleanup();
}, 120000);
