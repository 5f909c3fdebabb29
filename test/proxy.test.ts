import { createConnection } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsSetup, startTestDaemon, writeConfig, type TestDaemon, type TestDirs } from './helpers.js';

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

/** Connects as the load balancer would: a PROXY v1 line for `client`, then SMTP. Returns every reply line. */
async function viaProxy(client: string, lines: string[]): Promise<string[]> {
  const socket = createConnection({ host: '127.0.0.1', port: t.smtpPort });
  socket.setEncoding('utf8');
  socket.write(`PROXY TCP4 ${client} 127.0.0.1 40000 25\r\n`);
  const replies: string[] = [];
  let buffer = '';
  let next = 0;
  await new Promise<void>((resolve) => {
    socket.on('close', () => resolve());
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!/^\d{3} /.test(line)) continue;
        replies.push(line);
        if (line.startsWith('421')) return;
        const command = lines[next++];
        if (command) socket.write(command + '\r\n');
        else socket.end();
      }
    });
  });
  return replies;
}

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
    expect(replies[5]).toMatch(/^421 4\.7\.0 Too many connections from 198\.51\.100\.7; slow down/);
    expect((await viaProxy('198.51.100.8', ['QUIT']))[0]).toMatch(/^220 /);
  });
});
