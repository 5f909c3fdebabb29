import { z } from 'zod';
import { duration, secretField } from './fields.js';

/*
 * The typed config of each named SMS provider adapter (src/providers/<type>/),
 * one schema per `type`. Exported for the main schema's `providers:` map; each
 * adapter's factory takes the parsed value. Every adapter has a `base_url`,
 * so tests and benchmarks point it at a local fake of the provider's API.
 */

const baseUrl = (fallback: string) =>
  z.url({ protocol: /^https?$/ }).default(fallback).meta({ description: `The provider's API root (default ${fallback}); a test points it at a local fake.` });

/** What every named provider has besides its own contract: its share of dispatch. */
const dispatchShare = {
  rate_limit: z
    .union([z.literal('off'), z.number().min(0)])
    .transform((v) => (v === 'off' ? 0 : v))
    .default(0)
    .meta({ description: 'SMS per second for this provider (your contract with it); 0 or off = no limit. Holds across daemons on PostgreSQL, as dispatch.rate_limit does.' }),
  concurrency: z.number().int().min(1).max(256).optional().meta({ description: 'Calls to this provider in flight at once. Default: dispatch.concurrency.' }),
  timeout: duration().default(10_000).meta({ description: 'Per-call timeout; one after the request was written is an unknown outcome.' }),
};

/** A shared secret that authenticates callbacks by URL: long enough that guessing it is hopeless. */
const callbackToken = secretField()
  .refine((value) => value.length >= 32 && /^[A-Za-z0-9._~-]+$/.test(value), {
    message: 'must be at least 32 characters of A-Z a-z 0-9 . _ ~ - (e.g. `openssl rand -hex 24`)',
  })
  .meta({ description: 'Random token (32+ URL-safe characters) that callbacks must carry as ?token=…: the provider signs nothing, so this is what tells its callbacks from a forger\'s. Set it in the inbound URL you give the provider.' });

export const twilioProviderSchema = z
  .strictObject({
    type: z.literal('twilio').meta({ description: 'Twilio Programmable Messaging (Messages API); receipts and inbound SMS verified by X-Twilio-Signature.' }),
    account_sid: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must be a Twilio account SID (AC and 32 hex digits)').meta({ description: 'Your Twilio account SID (AC…).' }),
    auth_token: secretField().optional().meta({ description: 'The account\'s auth token: authenticates sends unless an API key is given, and is what Twilio signs callbacks with (without it callbacks are refused and no StatusCallback is asked for).' }),
    api_key_sid: z.string().regex(/^SK[0-9a-fA-F]{32}$/, 'must be a Twilio API key SID (SK and 32 hex digits)').optional().meta({ description: 'An API key (SK…) to authenticate sends instead of the auth token; give api_key_secret with it.' }),
    api_key_secret: secretField().optional().meta({ description: 'The API key\'s secret.' }),
    messaging_service_sid: z.string().regex(/^MG[0-9a-fA-F]{32}$/, 'must be a Messaging Service SID (MG and 32 hex digits)').optional().meta({ description: 'Send through this Messaging Service (MG…) instead of from the SMS\'s sender.' }),
    base_url: baseUrl('https://api.twilio.com'),
    ...dispatchShare,
  })
  .refine((c) => (c.api_key_sid === undefined) === (c.api_key_secret === undefined), { message: 'give api_key_sid and api_key_secret together', path: ['api_key_secret'] })
  .refine((c) => c.auth_token !== undefined || c.api_key_sid !== undefined, { message: 'give auth_token, or api_key_sid and api_key_secret', path: ['auth_token'] });
export type TwilioProviderConfig = z.output<typeof twilioProviderSchema>;

export const VONAGE_SIGNATURE_METHODS = ['md5hash', 'md5', 'sha1', 'sha256', 'sha512'] as const;

export const vonageProviderSchema = z.strictObject({
  type: z.literal('vonage').meta({ description: 'Vonage (Nexmo) SMS API; delivery receipts and inbound SMS verified by their signature (sig).' }),
  api_key: z.string().min(1).meta({ description: 'Your Vonage API key.' }),
  api_secret: secretField().meta({ description: 'Your Vonage API secret.' }),
  signature_secret: secretField().optional().meta({ description: 'The signature secret of your account (dashboard, API settings): verifies the sig of receipts and inbound SMS. Without it callbacks are refused.' }),
  signature_method: z.enum(VONAGE_SIGNATURE_METHODS).default('md5hash').meta({ description: 'The signature method chosen in the dashboard: md5hash (Vonage\'s default), md5, sha1, sha256 or sha512 (HMAC).' }),
  base_url: baseUrl('https://rest.nexmo.com'),
  ...dispatchShare,
});
export type VonageProviderConfig = z.output<typeof vonageProviderSchema>;

export const gatewayApiProviderSchema = z.strictObject({
  type: z.literal('gatewayapi').meta({ description: 'GatewayAPI REST (mtsms); status and MO webhooks verified by their JWT (X-Gwapi-Signature, HS256).' }),
  token: secretField().meta({ description: 'Your GatewayAPI API token.' }),
  base_url: baseUrl('https://gatewayapi.com'),
  receipts: z
    .strictObject({
      secret: secretField().refine((value) => value.length >= 16, { message: 'must be at least 16 characters' }).meta({ description: 'The webhook\'s authentication token (16+ characters): GatewayAPI signs its JWT with it.' }),
    })
    .optional()
    .meta({ description: 'Verification of status (DSN) and MO webhooks. Without it callbacks are refused.' }),
  ...dispatchShare,
});
export type GatewayApiProviderConfig = z.output<typeof gatewayApiProviderSchema>;

export const inMobileProviderSchema = z.strictObject({
  type: z.literal('inmobile').meta({ description: 'inMobile JSON API v4; status callbacks and incoming SMS authenticated by a token in their URL (inMobile signs nothing).' }),
  api_key: secretField().meta({ description: 'Your inMobile API key (mm.inmobile.dk, API).' }),
  base_url: baseUrl('https://api.inmobile.com'),
  callback_token: callbackToken,
  ...dispatchShare,
});
export type InMobileProviderConfig = z.output<typeof inMobileProviderSchema>;

/** Every named adapter's config, by `type`, for the main schema's `providers:` map. */
export const namedProviderSchema = z.discriminatedUnion('type', [twilioProviderSchema, vonageProviderSchema, gatewayApiProviderSchema, inMobileProviderSchema]);
export type NamedProviderConfig = z.output<typeof namedProviderSchema>;
