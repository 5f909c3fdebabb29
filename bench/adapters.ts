/*
 * CPU per send of each named provider adapter against a local fake of its
 * provider, next to the generic HTTP/JSON adapter in the same run. The fakes
 * run in a worker thread; only this process's main thread is counted (from
 * /proc), so the number is the adapter's own cost: building the request, the
 * HTTP client, reading and classifying the answer. Rounds alternate between
 * adapters so that a noisy moment on a shared machine hits them alike; each
 * adapter's best round is kept. Goal (issue 24): no adapter above 1.2 × the
 * generic one. Printed, not asserted.
 *
 *   npm run build && node dist/bench/adapters.js [--sms 4000] [--rounds 5] [--concurrency 8]
 */
import { parseArgs } from 'node:util';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mainSchema } from '../src/config/schema.js';
import { gatewayApiProviderSchema, inMobileProviderSchema, twilioProviderSchema, vonageProviderSchema } from '../src/config/providers.js';
import { systemClock } from '../src/core/clock.js';
import { createGatewayApiProvider } from '../src/providers/gatewayapi/index.js';
import { createHttpJsonProvider } from '../src/providers/http-json.js';
import { createInMobileProvider } from '../src/providers/inmobile/index.js';
import { createTwilioProvider } from '../src/providers/twilio/index.js';
import type { OutgoingSms, SmsProvider } from '../src/providers/types.js';
import { createVonageProvider } from '../src/providers/vonage/index.js';
import { BENCH_CREDENTIALS as C } from './adapter-credentials.js';
import { fmt } from './harness.js';

const { values } = parseArgs({ options: { sms: { type: 'string' }, rounds: { type: 'string' }, concurrency: { type: 'string' } } });
const SMS = Number(values.sms ?? 4000);
const ROUNDS = Number(values.rounds ?? 5);
const CONCURRENCY = Number(values.concurrency ?? 8);
const TEXT = 'Disk /var on db-7 is 97 % full; writes will fail within the hour.';

type Urls = Record<'generic' | 'twilio' | 'vonage' | 'gatewayapi' | 'inmobile', string>;

function adapters(urls: Urls): [string, SmsProvider][] {
  const deps = (name: string) => ({ name, clock: systemClock, maxSockets: CONCURRENCY });
  const main = mainSchema.parse({
    smtp: { listen: '127.0.0.1:0' }, sms_domains: ['sms.example.test'], storage: { path: 'x.db' }, http: { listen: '127.0.0.1:0' },
    provider: { type: 'http', url: `${urls.generic}/send`, body: { to: '{{to}}', from: '{{from}}', text: '{{text}}', callback_url: '{{callback_url}}' }, id_path: 'id', parts_path: 'parts' },
  });
  if (main.provider?.type !== 'http') throw new Error('not http');
  return [
    ['http (generic)', createHttpJsonProvider(main.provider, { clock: systemClock, maxSockets: CONCURRENCY })],
    ['twilio', createTwilioProvider(twilioProviderSchema.parse({ type: 'twilio', account_sid: C.twilio.accountSid, auth_token: C.twilio.authToken, base_url: urls.twilio }), deps('twilio'))],
    ['vonage', createVonageProvider(vonageProviderSchema.parse({ type: 'vonage', api_key: C.vonage.apiKey, api_secret: C.vonage.apiSecret, base_url: urls.vonage }), deps('vonage'))],
    ['gatewayapi', createGatewayApiProvider(gatewayApiProviderSchema.parse({ type: 'gatewayapi', token: C.gatewayapi.token, base_url: urls.gatewayapi }), deps('gatewayapi'))],
    ['inmobile', createInMobileProvider(inMobileProviderSchema.parse({ type: 'inmobile', api_key: C.inmobile.apiKey, callback_token: C.inmobile.callbackToken, base_url: urls.inmobile }), deps('inmobile'))],
  ];
}

let serial = 0;
/** `count` sends, `CONCURRENCY` at a time; every one must be accepted. */
async function sendMany(provider: SmsProvider, count: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      const sms: OutgoingSms = { to: '+4520000001', from: 'Example', text: TEXT, idempotencyKey: `B${++serial}.0`, callbackUrl: 'https://sms.example.test/receipts/x' };
      const result = await provider.send(sms);
      if (!result.ok) throw new Error(`${provider.name}: ${result.reason}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, lane));
}

async function main(): Promise<void> {
  const fakes = fork(fileURLToPath(new URL('./adapter-fakes-worker.js', import.meta.url)));
  const urls = await new Promise<Urls>((resolve, reject) => fakes.once('message', (m) => resolve(m as Urls)).once('error', reject));
  const list = adapters(urls);
  for (const [, provider] of list) await sendMany(provider, 500); // warm-up: JIT, keep-alive sockets
  const best = new Map<string, { cpuUs: number; perSecond: number }>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, provider] of list) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await sendMany(provider, SMS);
      const wall = (performance.now() - t0) / 1000;
      const used = process.cpuUsage(cpu0);
      const cpuUs = (used.user + used.system) / SMS;
      const previous = best.get(name);
      if (!previous || cpuUs < previous.cpuUs) best.set(name, { cpuUs, perSecond: SMS / wall });
    }
  }
  const generic = best.get('http (generic)')?.cpuUs ?? NaN;
  console.log(`\n${SMS} SMS per round, ${ROUNDS} rounds, concurrency ${CONCURRENCY}; best round per adapter; this process's CPU (fakes in a child process)\n`);
  console.log('| adapter | CPU µs/SMS | SMS/s | × generic |');
  console.log('|---|---:|---:|---:|');
  for (const [name] of list) {
    const b = best.get(name);
    console.log(`| ${name} | ${fmt(b?.cpuUs)} | ${fmt(b?.perSecond, 0)} | ${fmt(b ? b.cpuUs / generic : undefined, 2)} |`);
  }
  for (const [, provider] of list) provider.close();
  fakes.disconnect();
}

await main();
