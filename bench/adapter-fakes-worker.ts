import { randomBytes } from 'node:crypto';
import { json, startFake } from './fakes/kit.js';
import { startFakeGatewayApi } from './fakes/gatewayapi.js';
import { startFakeInMobile } from './fakes/inmobile.js';
import { startFakeTwilio } from './fakes/twilio.js';
import { startFakeVonage } from './fakes/vonage.js';
import { BENCH_CREDENTIALS as C } from './adapter-credentials.js';

/*
 * bench/adapters.ts's providers, in a child process so that their CPU is not
 * counted with the adapters' (the bench reads its own process's CPU).
 * Sends each fake's URL back over IPC once all listen; exits with its parent.
 */

const generic = await startFake((request) => {
  if (request.headers['content-type'] !== 'application/json') return json(400, { error: 'JSON only' });
  return json(200, { id: randomBytes(8).toString('hex'), parts: 1, status: 'queued' });
});
const twilio = await startFakeTwilio({ accountSid: C.twilio.accountSid, authToken: C.twilio.authToken });
const vonage = await startFakeVonage({ apiKey: C.vonage.apiKey, apiSecret: C.vonage.apiSecret });
const gatewayapi = await startFakeGatewayApi({ token: C.gatewayapi.token });
const inmobile = await startFakeInMobile({ apiKey: C.inmobile.apiKey });
// The fakes keep what they sent; a bench run would grow them without bound.
setInterval(() => {
  twilio.messages.length = 0;
  vonage.messages.length = 0;
  gatewayapi.messages.length = 0;
  inmobile.messages.length = 0;
}, 1000).unref();

process.send?.({ generic: generic.url, twilio: twilio.url, vonage: vonage.url, gatewayapi: gatewayapi.url, inmobile: inmobile.url });
process.on('disconnect', () => process.exit(0));
