import { isIP } from 'node:net';
import { z } from 'zod';
import { duration, secretField, type Env } from './fields.js';

/*
 * A named provider of `type: kannel`: Kannel's smsbox `sendsms` interface
 * (src/providers/kannel/). Kannel signs nothing it calls back, so receipts
 * (dlr-url) and inbound SMS (an sms-service get-url) carry a long random
 * token in their URL, and may also be held to a list of source networks.
 */

/** A token Kannel copies into every callback URL: URL- and kannel.conf-safe characters only, long enough not to be guessed. */
export const CALLBACK_TOKEN_RE = /^[A-Za-z0-9_-]{32,}$/;

/** An IP address or CIDR range of `allow_from`. */
export interface SourceNetwork {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

// The same rule as setups' authorize.ip (config/schema.ts keeps its own private copy).
const sourceNetwork = z.string().transform((raw, ctx): SourceNetwork => {
  const value = raw.trim();
  const [address = '', prefixText] = value.split('/');
  const version = isIP(address);
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (version === 0 || (prefixText !== undefined && !/^\d+$/.test(prefixText)) || prefix > max) {
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not an IP address or CIDR range (e.g. 192.0.2.10, 10.0.0.0/8)` });
    return z.NEVER;
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
});

/** Kannel's `coding`: 0 = 7-bit (GSM), 1 = 8-bit, 2 = UCS-2. */
const kannelCoding = z.union([z.literal(0), z.literal(1), z.literal(2)]);

/** Builds the schema against an environment (tests pass their own); `kannelProviderSchema` reads process.env. */
export function createKannelProviderSchema(env: Env = process.env) {
  return z.strictObject({
    type: z.literal('kannel').meta({ description: 'Kannel (bearerbox + smsbox) in front of your own SMSC connections, spoken to through smsbox\'s sendsms interface.' }),
    url: z.url({ protocol: /^https?$/ }).meta({ description: 'smsbox\'s sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms (sendsms-port and sendsms-url of the smsbox group).' }),
    method: z.enum(['GET', 'POST']).default('GET').meta({ description: 'GET: every field in the query string (Kannel\'s documented form). POST: the text as a text/plain body and the fields as X-Kannel-* headers, which keeps the password and the text out of URLs and proxy logs.' }),
    username: z.string().min(1).meta({ description: 'The `username` of a sendsms-user group.' }),
    password: secretField(env).meta({ description: 'Its `password`; ${ENV_NAME} is read from the environment. Never logged.' }),
    smsc: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be an smsc-id (letters, digits, . _ -)').optional().meta({ description: 'Route every SMS to this smsc-id (the `smsc` CGI variable); absent = Kannel\'s own routing.' }),
    dlr_mask: z.number().int().min(0).max(31).default(31).meta({ description: 'Which delivery reports Kannel calls back: 1 delivered, 2 failed, 4 buffered, 8 accepted by the SMSC, 16 rejected by the SMSC; 31 = all, 0 = none.' }),
    coding: z
      .strictObject({
        gsm7: kannelCoding.default(0).meta({ description: 'Kannel `coding` for a text GSM-7 can carry.' }),
        ucs2: kannelCoding.default(2).meta({ description: 'Kannel `coding` for any other text (sent as UTF-8 with charset=UTF-8; Kannel converts it).' }),
      })
      .default({ gsm7: 0, ucs2: 2 })
      .meta({ description: 'The `coding` sent for each encoding our text needs.' }),
    callback: z
      .strictObject({
        token: secretField(env)
          .refine((value) => CALLBACK_TOKEN_RE.test(value), { message: 'must be 32 or more of A-Z a-z 0-9 _ - (e.g. `openssl rand -hex 32`): Kannel cannot sign callbacks, so this token is all that proves one came from it' })
          .meta({ description: 'A long random token mail2sms puts in every dlr-url and you put in the sms-service get-url; a callback without it gets 403. ${ENV_NAME} is read from the environment.' }),
      })
      .meta({ description: 'How Kannel\'s callbacks (delivery reports and inbound SMS) are recognised.' }),
    allow_from: z.array(sourceNetwork).min(1, 'is an empty list').optional().meta({ description: 'Networks Kannel\'s callbacks may come from (IPv4 and IPv6 CIDR), checked besides the token. Absent = any.', examples: [['127.0.0.1', '10.0.0.0/8']] }),
    timeout: duration().default(10_000).meta({ description: 'Per-call timeout; one after the request was written is an unknown outcome (Kannel has no idempotency key: dispatch.on_unknown decides).' }),
    rate_limit: z.union([z.literal('off'), z.number().min(0)]).transform((v) => (v === 'off' ? 0 : v)).default(0).meta({ description: 'SMS per second to this provider; 0 or off = none (Kannel paces each SMSC itself with its `throughput`).' }),
    concurrency: z.number().int().min(1).max(256).default(4).meta({ description: 'Calls to smsbox in flight at once.' }),
  });
}

export const kannelProviderSchema = createKannelProviderSchema();
export type KannelProviderConfig = z.output<typeof kannelProviderSchema>;
