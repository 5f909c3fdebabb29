import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsSetup, smtpDialogue, startTestDaemon, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

/*
 * Behind a load balancer: the PROXY protocol header gives the real client's
 * address, which the IP rules and the per-address connection rate then use.
 */

let dirs: TestDirs;
let t: TestDaemon;

beforeAll(async () => {
  dirs = writeConfig({
    main: { smtp: { listen: '127.0.0.1:0', proxy_protocol: ['127.0.0.1'], max_connection_rate: 5 } },
    setups: [alertsSetup(), alertsSetup({ id: 'branch', senders: ['noc@branch.test'], authorize: { ip: ['192.0.2.0/24'] } })],
  });
  t = await startTestDaemon(dirs);
});
afterAll(async () => {
  await t?.stop();
  dirs?.cleanup();
});

/** Connects as the load balancer would: a PROXY v1 line for `client`, then SMTP. */
const viaProxy = (client: string, lines: string[]) => smtpDialogue(t.smtpPort, lines, { proxyFrom: client });

describe('PROXY protocol', () => {
  it('IP rules see the real client, not the load balancer', async () => {
    const branch = await viaProxy('192.0.2.9', ['EHLO lb', 'MAIL FROM:<noc@branch.test>', 'QUIT']);
    expect(branch[2]).toMatch(/^250 /);
    const local = await viaProxy('192.0.2.9', ['EHLO lb', 'MAIL FROM:<ops@example.test>', 'QUIT']);
    expect(local[2]).toMatch(/^550 5\.7\.1 Sender <ops@example\.test> is not authorised from 192\.0\.2\.9/);
  });
});

describe('per-address connection rate', () => {
  it('refuses the sixth connection in a minute from one address with 421 4.7.0, not the others', async () => {
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push((await viaProxy('198.51.100.7', ['QUIT']))[0]);
    expect(replies.slice(0, 5).every((r) => r?.startsWith('220'))).toBe(true);
    expect(replies[5]).toMatch(/^421 4\.7\.0 Too many connections from 198\.51\.100\.7; slow down \[ref [\w.]+\]$/);
    expect((await viaProxy('198.51.100.8', ['QUIT']))[0]).toMatch(/^220 /);
  });
});
