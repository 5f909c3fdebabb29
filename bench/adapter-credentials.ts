/** The made-up credentials bench/adapters.ts gives its adapters and their fakes. */
export const BENCH_CREDENTIALS = {
  twilio: { accountSid: `AC${'0'.repeat(32)}`, authToken: 'bench-twilio-auth-token-000000' },
  vonage: { apiKey: 'bench123', apiSecret: 'bench-vonage-secret' },
  gatewayapi: { token: 'bench-gatewayapi-token' },
  inmobile: { apiKey: 'bench-inmobile-key', callbackToken: 'b'.repeat(40) },
} as const;
