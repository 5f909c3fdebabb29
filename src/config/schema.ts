import { isIP } from 'node:net';
import { z } from 'zod';
import { isSupportedCountry, type CountryCode } from 'libphonenumber-js/max';
import { parseListen, parseSize, type ListenAddress } from '../core/units.js';
import { DOMAIN_RE, LOCAL_RE, duration, durationOrOff, emailAddress, postgresUrl, secretField } from './fields.js';
import type { CutMarker } from '../message/strip.js';
import { HASH_PATTERN } from '../core/passwords.js';
import { DEFAULT_KEYWORDS, keywordsSchema } from '../consent/keywords.js';
import { sendingWindowSchema } from '../core/sending-window.js';
import { notifySchema } from './notify.js';
import { kannelProviderSchema, type KannelProviderConfig } from './provider-kannel.js';
import { namedProviderSchema, type NamedProviderConfig } from './providers.js';
import { configJsonSchema, UNIT_KEY } from './json-schema.js';

/*
 * The schema is the single description of what a valid config is. YAML is parsed
 * into plain values, validated here once, and everything after this point works
 * with the typed, frozen result.
 */

const listen = z.string().transform((value, ctx): ListenAddress => {
  const parsed = parseListen(value);
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a listen address (use host:port, e.g. 127.0.0.1:2525 or [::1]:2525)` });
    return z.NEVER;
  }
  return parsed;
});

const size = z.union([z.string(), z.number()]).meta({ [UNIT_KEY]: 'size' }).transform((value, ctx): number => {
  const parsed = parseSize(value);
  if (parsed === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a size (use e.g. 1MB, 512KB or a number of bytes)` });
    return z.NEVER;
  }
  return parsed;
});

const domain = z
  .string()
  .transform((value) => value.trim().toLowerCase())
  .refine((value) => DOMAIN_RE.test(value), { message: 'is not a domain name' });

export type SenderPattern =
  | { kind: 'address'; address: string }
  | { kind: 'domain'; domain: string }
  | { kind: 'subdomains'; domain: string };

/** `ops@example.test` (exact), `example.test` or `@example.test` (domain), `*.example.test` (subdomains only). */
const senderPattern = z.string().transform((raw, ctx): SenderPattern => {
  const value = raw.trim().toLowerCase();
  if (value.startsWith('*.') && DOMAIN_RE.test(value.slice(2))) return { kind: 'subdomains', domain: value.slice(2) };
  if (value.startsWith('@') && DOMAIN_RE.test(value.slice(1))) return { kind: 'domain', domain: value.slice(1) };
  if (DOMAIN_RE.test(value)) return { kind: 'domain', domain: value };
  const at = value.lastIndexOf('@');
  if (at > 0 && LOCAL_RE.test(value.slice(0, at)) && DOMAIN_RE.test(value.slice(at + 1))) {
    return { kind: 'address', address: value };
  }
  ctx.addIssue({
    code: 'custom',
    message: `"${raw}" is not a sender (use an address ops@example.test, a domain example.test, or *.example.test for subdomains)`,
  });
  return z.NEVER;
});

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
  text: string;
}

const cidr = z.string().transform((raw, ctx): Cidr => {
  const value = raw.trim();
  const [address = '', prefixText] = value.split('/');
  const version = isIP(address);
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (version === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
    ctx.addIssue({ code: 'custom', message: `"${raw}" is not an IP address or CIDR range (e.g. 192.0.2.0/24, 2001:db8::/32)` });
    return z.NEVER;
  }
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6', text: value };
});

/** A disclaimer's first words, or `/regex/flags`. */
const cutMarker = z.string().min(1).transform((value, ctx): CutMarker => {
  const regex = /^\/(.+)\/([a-z]*)$/.exec(value);
  if (!regex) return { kind: 'text', text: value };
  try {
    // Each line is tested on its own; g and y would make test() stateful (and the config is frozen).
    return { kind: 'regex', regex: new RegExp(regex[1] as string, (regex[2] as string).replace(/[gy]/g, '')) };
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a valid regular expression: ${(error as Error).message}` });
    return z.NEVER;
  }
});

/** Alphanumeric 3–11 characters with at least one letter, or a numeric sender of up to 15 digits. */
const senderName = z.string().refine(
  (value) => (/^[A-Za-z0-9]{3,11}$/.test(value) && /[A-Za-z]/.test(value)) || /^\+?\d{3,15}$/.test(value),
  { message: 'must be 3–11 letters/digits with at least one letter, or a phone number of up to 15 digits' },
);

export const country = z
  .string()
  .transform((value) => value.trim().toUpperCase())
  .refine((value) => isSupportedCountry(value), { message: 'is not an ISO 3166 country code known to the number plan (e.g. DK, SE, DE)' })
  .transform((value) => value as CountryCode);


export const setupSchema = z
  .strictObject({
    $schema: z.string().optional().meta({ description: 'JSON Schema reference for editors.' }),
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be letters, digits, - or _ (max 64)').meta({ description: 'Unique name of the setup (letters, digits, - and _).' }),
    description: z.string().optional().meta({ description: 'Free text for admins.' }),
    senders: z.array(senderPattern).min(1, 'lists no sender').meta({ description: 'Envelope senders this setup owns: ops@example.test (exact), example.test or @example.test (the domain), *.example.test (subdomains only). Exact beats domain beats *.domain.', examples: [['ops@example.test', 'example.test', '*.example.test']] }),
    authorize: z
      .strictObject({
        smtp_auth: z
          .array(
            z.strictObject({
              user: z.string().min(1).max(256).meta({ description: 'The AUTH user name.' }),
              password_hash: z
                .string()
                .regex(HASH_PATTERN, 'is not a password hash: run `mail2sms hash-password` and paste what it prints')
                .optional()
                .meta({ description: 'scrypt hash printed by `mail2sms hash-password`.' }),
              // Caught below with a clear message rather than as an unknown key.
              password: z.unknown().optional().meta({ description: 'Never: plain-text passwords are refused; use password_hash.' }),
            }),
          )
          .min(1, 'is an empty list')
          .optional()
          .meta({ description: 'Users who may send as this setup after SMTP AUTH (PLAIN/LOGIN, over TLS when smtp.require_tls).' }),
        spf: z.literal('pass').optional().meta({ description: 'The envelope sender domain\'s SPF must pass for the client (checked at MAIL FROM).' }),
        dkim: z.literal('pass').optional().meta({ description: 'A DKIM signature aligned with the From header, which must be the sender\'s domain, must pass (checked after DATA).' }),
        ip: z.array(cidr).min(1, 'is an empty list').optional().meta({ description: 'Networks the client must connect from (IPv4 and IPv6 CIDR).', examples: [['127.0.0.0/8', '::1/128']] }),
      })
      .default({})
      .meta({ description: 'How a client proves it may send as this setup. Every rule listed must hold.' }),
    allow_unauthenticated: z.boolean().default(false).meta({ description: 'Accept any client that claims a sender of this setup. Only for closed networks.' }),
    sender_name: senderName.meta({ description: 'SMS sender: 3–11 letters/digits with at least one letter (one-way), or a phone number of up to 15 digits.', pattern: '^([A-Za-z0-9]{3,11}|\\+?[0-9]{3,15})$' }),
    cooldown: durationOrOff().default(600_000).meta({ description: 'A number that got any SMS from the organisation within this interval is skipped: 30s, 10m, 24h, 7d, or off.', pattern: '^(off|([0-9]+(ms|s|m|h|d|w))+)$' }),
    default_country: country.meta({ description: 'ISO 3166 country of numbers written without a country code.', pattern: '^[A-Za-z]{2}$' }),
    category: z.enum(['alert', 'marketing']).default('alert').meta({ description: 'alert: sent to every number that has not opted out. marketing: only to numbers with an active opt-in for `purpose`, with the STOP clause appended.' }),
    purpose: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be lower-case letters, digits, - or _').optional().meta({ description: 'Marketing setups: the consent purpose (declared under consent.purposes in mail2sms.yaml) a number must have opted in to.' }),
    opt_out_text: z.string().min(1).optional().meta({ description: 'Marketing setups: the opt-out text appended to every SMS instead of consent.stop_clause.text. Required with an alphanumeric sender_name, which cannot receive a STOP reply: give a link or an email address.' }),
    daily_limit: z.number().int().min(1).optional().meta({ description: 'At most this many SMS from this setup in any 24 hours; more are suppressed (daily_limit). A guard against mail loops and misconfigured systems.' }),
    /** Where the SMS text comes from. */
    text: z.enum(['body', 'subject', 'subject+body']).default('body').meta({ description: 'Where the SMS text comes from.' }),
    text_separator: z.string().default('\n').meta({ description: 'Between subject and body when text is subject+body.' }),
    /** Lines where a disclaimer starts: plain text (case-insensitive) or /regex/flags; the text is cut there. */
    cut_markers: z.array(cutMarker).default([]).meta({ description: 'Where a disclaimer starts: text (any case) or /regex/flags. The SMS is cut at that line.' }),
    /** Typographic quotes, dashes, ellipsis → GSM-7 equivalents, so one curly apostrophe does not halve the capacity. */
    transliterate: z.boolean().default(true).meta({ description: 'Curly quotes, dashes, ellipsis and odd spaces become GSM-7, so they do not halve the capacity of an SMS.' }),
    max_segments: z.number().int().min(1).max(10).default(3).meta({ description: 'Longest SMS in segments (153 GSM-7 / 67 UCS-2 characters each when concatenated).' }),
    on_overflow: z.enum(['reject', 'truncate']).default('reject').meta({ description: 'Over max_segments: reject (550 5.3.4) or truncate after a whole word with "...".' }),
    /** Only numbers of these countries; others get 550 5.7.1 at RCPT TO. Absent = any country. */
    allowed_countries: z.array(country).min(1, 'is an empty list: no number could ever be sent to').optional().meta({ description: 'Only numbers of these countries (ISO 3166); others get 550 5.7.1.' }),
    /** Recipients per mail for this setup (the server's smtp.max_recipients still caps it). */
    max_recipients: z.number().int().min(1).max(1000).optional().meta({ description: 'Recipients per mail for this setup (smtp.max_recipients still caps it).' }),
    on_suppressed: z.enum(['accept', 'reject']).default('accept').meta({ description: 'accept: 250 and the suppression is recorded. reject: 550 5.7.1 at RCPT TO naming the reason (and when a cooldown ends).' }),
    sending_window: sendingWindowSchema.optional().meta({ description: 'When this setup\'s SMS may go out, e.g. {timezone: Europe/Copenhagen, days: mon-fri, hours: 08:00-20:00, holidays: [2026-12-24]}. Rows outside it wait for the next opening (visible in history).' }),
    max_age: durationOrOff().default(null).meta({ description: 'An SMS not sent this long after the mail arrived ends expired instead (e.g. 1h for alerts: nobody wants a "server down" six hours late). off = no limit.', pattern: '^(off|([0-9]+(ms|s|m|h|d|w))+)$' }),
    on_unknown: z.enum(['retry', 'fail']).optional().meta({ description: 'A provider without idempotency that timed out mid-call may or may not have sent: retry (at-least-once) or fail (at-most-once, the row ends unknown). Default: retry for alerts, fail for marketing.' }),
    report: z.enum(['none', 'failures', 'all']).default('none').meta({ description: 'Email the sender one report per mail with each recipient\'s outcome: none, failures (only when something was not delivered) or all.' }),
    forward_replies: z.boolean().default(false).meta({ description: 'An SMS reply (not a keyword) to this setup\'s SMS is emailed to the sender of the mail, threaded under it. Needs notify.relay and a numeric sender_name.' }),
    groups: z.array(z.string().min(1)).default([]).meta({ description: 'Groups (declared under groups: in mail2sms.yaml, or the built-in all) this setup\'s senders may address as <group>@<sms domain>. Default: none; an undeclared name is a config error.', examples: [['board', 'u14-parents']] }),
    max_group_size: z.number().int().min(1).default(1000).meta({ description: 'A group with more members than this is refused at RCPT TO (550 5.5.3, the sizes named).' }),
    merge_missing: z.enum(['reject', 'skip']).default('reject').meta({ description: 'A recipient without a contact, or a contact without a merge field the text uses (and no default): reject the whole mail (550 5.6.0) or skip that recipient (suppressed, merge_field_missing).' }),
  })
  .superRefine((setup, ctx) => {
    const rules = setup.authorize;
    if (!rules.ip && !rules.smtp_auth && !rules.spf && !rules.dkim && !setup.allow_unauthenticated) {
      ctx.addIssue({
        code: 'custom',
        path: ['authorize'],
        message: 'no authorisation rule: list authorize.ip, smtp_auth, spf or dkim (or set allow_unauthenticated: true to accept any client that claims a sender)',
      });
    }
    setup.authorize.smtp_auth?.forEach((user, i) => {
      if (user.password !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['authorize', 'smtp_auth', i, 'password'], message: 'plain-text passwords are refused: run `mail2sms hash-password` and write password_hash instead' });
      } else if (user.password_hash === undefined) {
        ctx.addIssue({ code: 'custom', path: ['authorize', 'smtp_auth', i], message: 'needs a password_hash (from `mail2sms hash-password`)' });
      }
    });
    if (setup.category === 'marketing' && setup.purpose === undefined) {
      ctx.addIssue({ code: 'custom', path: ['purpose'], message: 'a marketing setup needs a purpose: only numbers that opted in to it get its SMS' });
    }
    if (setup.category === 'alert' && setup.purpose !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['purpose'], message: 'only marketing setups have a purpose (alerts go to every number that has not opted out); set category: marketing or remove it' });
    }
    if (setup.category === 'marketing' && setup.opt_out_text === undefined && !/^\+?\d+$/.test(setup.sender_name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['opt_out_text'],
        message: `sender_name "${setup.sender_name}" is alphanumeric, so recipients cannot reply STOP: set opt_out_text to a link or an email address where they can opt out`,
      });
    }
    if (setup.forward_replies && !/^\+?\d+$/.test(setup.sender_name)) {
      ctx.addIssue({ code: 'custom', path: ['forward_replies'], message: `sender_name "${setup.sender_name}" is alphanumeric: nobody can reply to it, so there is nothing to forward` });
    }
  });

/** JSON Schema of a setup file, for editors (VS Code YAML: `# yaml-language-server: $schema=…`). */
export function setupJsonSchema(): Record<string, unknown> {
  return {
    ...configJsonSchema(setupSchema),
    $id: 'https://mail2sms.example.test/setup.schema.json',
    title: 'mail2sms setup',
    description: 'One setup: who may send SMS, how they are authorised, and the rules for their messages. Every key: docs/configuration-reference.md.',
  };
}

export type SetupFields = z.output<typeof setupSchema>;
export interface Setup extends SetupFields {
  /** The file the setup came from, for messages that must name it. */
  file: string;
}

const simulatorProvider = z.strictObject({
  type: z.literal('simulator').meta({ description: 'The built-in provider simulator (a real HTTP server; the phone is played by its API).' }),
  listen: listen.meta({ description: 'Where the simulator listens (embedded) or is reached (started by `mail2sms provider-sim`).' }),
  secret: secretField().refine((value) => value.length >= 16, { message: 'must be at least 16 characters' }).meta({ description: 'Shared secret, 16+ characters: signs receipts and inbound webhooks (HMAC-SHA256).' }),
  embedded: z.boolean().default(true).meta({ description: 'Start the simulator inside the daemon (true) or use one started by `mail2sms provider-sim`.' }),
  receipt_delay: duration().default(200).meta({ description: 'Simulator: delay before it posts the delivery receipts.' }),
  timeout: duration().default(10_000).meta({ description: 'Per-call timeout; one after the request was written is an unknown outcome.' }),
  inbound_url: z.url().optional().meta({ description: 'Where the embedded simulator posts simulated inbound SMS. Default: <http.public_url>/inbound.' }),
});

/** A provider's name: it is a URL path segment (/receipts/<name>). */
const PROVIDER_NAME = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be lower-case letters, digits, - and _ (at most 64)');

const routeSchema = z.strictObject({
  match: z
    .strictObject({
      country: z.array(country).min(1).optional().meta({ description: 'ISO country codes of the recipient (US, CA).' }),
      prefix: z.array(z.string().regex(/^\+\d{1,14}$/, 'is not an E.164 prefix (e.g. +4520)')).min(1).optional().meta({ description: 'E.164 prefixes of the recipient ("+4520").' }),
      setup: z.array(z.string().min(1)).min(1).optional().meta({ description: 'Setup ids (automations and keyword answers go by their setup).' }),
      category: z.array(z.enum(['alert', 'marketing'])).min(1).optional().meta({ description: 'alert and/or marketing.' }),
    })
    .optional()
    .meta({ description: 'Every condition given must hold; none given (or no match) is the default route.' }),
  providers: z.array(PROVIDER_NAME).min(1, 'lists no provider').meta({ description: 'Provider names in failover order: the next is tried only when the one before certainly did not send the SMS.' }),
  sender: z.string().min(1).max(15).optional().meta({ description: 'Sender for SMS on this route (a number, for countries that refuse alphanumeric senders); else the setup\'s sender_name.' }),
});

const consentConfig = z
  .strictObject({
    purposes: z
      .record(
        z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be lower-case letters, digits, - or _'),
        z.strictObject({
          max_silence: durationOrOff().default(null).meta({ description: 'An opt-in goes stale when nothing was sent under this purpose for this long (e.g. 180d); off = never stale.' }),
          description: z.string().optional().meta({ description: 'Free text for admins.' }),
        }).nullable().transform((v) => v ?? { max_silence: null }),
      )
      .default({})
      .meta({ description: 'Marketing purposes a setup may name (`newsletter: {max_silence: 180d}`). Consent for one purpose is not consent for another.' }),
    stop_clause: z
      .strictObject({
        text: z.string().min(1).default('Reply STOP to opt out').meta({ description: 'The clause, appended on a new line.' }),
        detect: z.array(z.string().min(1)).default(['STOP']).meta({ description: 'Phrases that already count as an opt-out text (any case, any accents, whole words, in your languages): a body that carries one gets no clause.' }),
        once_per: durationOrOff().default(null).meta({ description: 'Append it to one number at most once in this period (e.g. 30d); off = every SMS.' }),
      })
      .default({ text: 'Reply STOP to opt out', detect: ['STOP'], once_per: null })
      .meta({ description: 'Appended to marketing SMS that do not already carry an opt-out text (a setup\'s opt_out_text replaces it). It counts against max_segments: with on_overflow: truncate the body is cut, never the clause.' }),
    keywords: keywordsSchema.meta({ description: 'Inbound keywords added to the built-in English ones (a config can never switch STOP off). A word may mean only one thing.' }),
    reply_sender: z.string().regex(/^\+?\d{3,15}$/, 'must be a phone number (digits): answers must be something the recipient can reply to').optional().meta({ description: 'Numeric sender of keyword answers (confirmation, help): alphanumeric senders cannot be replied to. Without it no answer is sent (logged).' }),
    confirmation_text: z.string().default('You will receive SMS from us again. Reply STOP to opt out.').meta({ description: 'Answer to START (opt-in again); "" sends none. Sent from reply_sender, bypassing the cooldown, recorded like any SMS.' }),
    help_text: z.string().default('Reply STOP to opt out, START to opt in again.').meta({ description: 'Answer to HELP, sent from reply_sender.' }),
    opt_out_confirmation_text: z.string().min(1).optional().meta({ description: 'Sent once when a number opts out (STOP), as carriers expect for short codes; unset = none. It reaches the opted-out number, and nothing after it. Needs reply_sender.' }),
  })
  .default({
    purposes: {},
    stop_clause: { text: 'Reply STOP to opt out', detect: ['STOP'], once_per: null },
    keywords: DEFAULT_KEYWORDS,
    confirmation_text: 'You will receive SMS from us again. Reply STOP to opt out.',
    help_text: 'Reply STOP to opt out, START to opt in again.',
  });

/** What an http.tokens entry may be used for. */
export const TOKEN_SCOPES = ['sends', 'console', 'console:pii'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** A bearer token's SHA-256 (tokens are random, so a fast hash is enough; `mail2sms token` prints both). */
const apiToken = z.strictObject({
  name: z.string().min(1).meta({ description: 'Who holds the token; an answer refusing it names it.' }),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'is not a SHA-256 hex digest: run `mail2sms token` and paste the sha256 it prints').meta({ description: 'SHA-256 (hex) of the token, as `mail2sms token` prints it.' }),
  scopes: z.array(z.enum(TOKEN_SCOPES)).min(1, 'is an empty list: the token could do nothing').optional().meta({ description: 'What the token may do: sends (POST /sends, PUT /contacts), console (read the operations console, numbers masked), console:pii (the console with full numbers and SMS texts). Absent = [sends], what every token meant before scopes.' }),
});

/** Placeholders a request body template may use; see src/providers/http-json.ts. */
export const BODY_PLACEHOLDERS = ['to', 'from', 'text', 'idempotency_key', 'callback_url'] as const;

/** Every string in the template may only use the known placeholders. */
function checkTemplate(value: unknown, ctx: z.RefinementCtx, path: (string | number)[]): void {
  if (typeof value === 'string') {
    for (const match of value.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)) {
      if (!(BODY_PLACEHOLDERS as readonly string[]).includes(match[1] as string)) {
        ctx.addIssue({ code: 'custom', path, message: `unknown placeholder {{${match[1]}}} (use ${BODY_PLACEHOLDERS.map((p) => `{{${p}}}`).join(' ')})` });
      }
    }
  } else if (Array.isArray(value)) value.forEach((item, i) => checkTemplate(item, ctx, [...path, i]));
  else if (value && typeof value === 'object') for (const [key, item] of Object.entries(value)) checkTemplate(item, ctx, [...path, key]);
}

const dotPath = z.string().regex(/^[^.\s]+(\.[^.\s]+)*$/, 'must be a dot path such as messages.0.id');
const receiptStatus = z.enum(['delivered', 'failed', 'expired', 'rejected']);

/** A generic HTTP/JSON SMS provider described in YAML (src/providers/http-json.ts). */
const httpProvider = z
  .strictObject({
    type: z.literal('http').meta({ description: 'A generic HTTP/JSON SMS API, described entirely in the config.' }),
    url: z.url({ protocol: /^https?$/ }).meta({ description: 'The provider\'s send endpoint (http or https).' }),
    method: z.enum(['POST', 'PUT', 'PATCH']).default('POST').meta({ description: 'HTTP method of a send.' }),
    timeout: duration().default(10_000).meta({ description: 'Per-call timeout; one after the request was written is an unknown outcome.' }),
    // One object with both keys optional rather than a union, so an error names the field (provider.auth.bearer).
    auth: z
      .strictObject({
        bearer: secretField().optional().meta({ description: 'Bearer token (Authorization: Bearer …); ${ENV_NAME} is read from the environment.' }),
        basic: z.strictObject({
          user: z.string().min(1).meta({ description: 'Basic auth user.' }),
          password: secretField().meta({ description: 'Basic auth password; ${ENV_NAME} is read from the environment.' }),
        }).optional().meta({ description: 'HTTP basic auth.' }),
      })
      .refine((auth) => (auth.bearer === undefined) !== (auth.basic === undefined), { message: 'give either bearer or basic' })
      .optional()
      .meta({ description: 'Either bearer or basic.' }),
    headers: z.record(z.string(), secretField()).default({}).meta({ description: 'Extra request headers; values may use ${ENV_NAME} (API keys).' }),
    body: z.record(z.string(), z.unknown()).meta({ description: 'The JSON request body; string values may contain {{to}} {{from}} {{text}} {{idempotency_key}} {{callback_url}}, substituted into the parsed JSON, never into text (another placeholder is a config error).' }),
    id_path: dotPath.meta({ description: 'Dot path to the provider\'s message id in the answer, e.g. messages.0.id.' }),
    parts_path: dotPath.optional().meta({ description: 'Dot path to the number of parts the provider billed, when it says.' }),
    idempotency_header: z
      .union([z.string().regex(/^[A-Za-z0-9-]+$/, 'must be a header name'), z.null(), z.literal('off'), z.literal(false)])
      .transform((value) => (value === 'off' || value === false ? null : value))
      .default('Idempotency-Key')
      .meta({ description: 'Header carrying our idempotency key; off or null when the provider has none (then on_unknown decides what a timeout mid-call means).' }),
    permanent_statuses: z.array(z.number().int().min(300).max(599)).optional().meta({ description: 'HTTP statuses that fail a send for good. Default: every 4xx but 408 and 429.' }),
    receipts: z
      .strictObject({
        secret: secretField().refine((value) => value.length >= 16, { message: 'must be at least 16 characters' }).meta({ description: 'Secret (16+ characters) the provider signs receipts and inbound webhooks with.' }),
        signature: z.literal('mail2sms').default('mail2sms').meta({ description: 'Signature scheme: X-Mail2sms-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">.' }),
        id_path: dotPath.meta({ description: 'Dot path to the provider\'s message id in a receipt.' }),
        status_path: dotPath.meta({ description: 'Dot path to the provider\'s status.' }),
        status_map: z.record(z.string(), receiptStatus).meta({ description: 'Provider status → delivered, failed, expired or rejected; an unmapped status is refused with 400.' }),
        error_path: dotPath.optional().meta({ description: 'Dot path to the provider\'s error code, kept with the receipt.' }),
        part_path: dotPath.optional().meta({ description: 'Dot path to the part number of a concatenated SMS.' }),
        parts_path: dotPath.optional().meta({ description: 'Dot path to the number of parts.' }),
        timestamp_path: dotPath.optional().meta({ description: 'Dot path to the provider\'s time of the status.' }),
      })
      .optional()
      .meta({ description: 'Delivery receipts the provider posts to /receipts.' }),
    inbound: z
      .strictObject({
        id_path: dotPath.meta({ description: 'Dot path to the inbound SMS id (a webhook delivered twice acts once).' }),
        from_path: dotPath.meta({ description: 'Dot path to the sender\'s number.' }),
        text_path: dotPath.meta({ description: 'Dot path to the text.' }),
        to_path: dotPath.optional().meta({ description: 'Dot path to the number it was sent to.' }),
        received_at_path: dotPath.optional().meta({ description: 'Dot path to when the provider received it.' }),
      })
      .optional()
      .meta({ description: 'Inbound SMS webhooks posted to /inbound, signed with receipts.secret.' }),
  })
  .superRefine((provider, ctx) => {
    checkTemplate(provider.body, ctx, ['body']);
    if (provider.inbound && !provider.receipts) {
      ctx.addIssue({ code: 'custom', path: ['inbound'], message: 'needs receipts.secret, which also signs inbound webhooks' });
    }
  });

export type SimulatorProviderConfig = z.output<typeof simulatorProvider>;
export type HttpProviderConfig = z.output<typeof httpProvider>;
const providerConfig = z.discriminatedUnion('type', [simulatorProvider, httpProvider, kannelProviderSchema, ...namedProviderSchema.options]);
export type ProviderConfig = SimulatorProviderConfig | HttpProviderConfig | KannelProviderConfig | NamedProviderConfig;
export type RouteConfig = z.output<typeof routeSchema>;

/** Group names: lower-case letters, digits, - and _, with at least one letter, so a group never looks like a number. */
export const GROUP_NAME = /^(?=[a-z0-9_-]*[a-z])[a-z0-9_-]{1,64}$/;
/** Every contact; built in, and like every group it must be allowed by a setup. */
export const ALL_GROUP = 'all';

const whereValue = z
  .union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number(), z.boolean()])).min(1, 'is an empty list')])
  .transform((value) => (Array.isArray(value) ? value : [value]).map(String));

const groupSchema = z
  .strictObject({
    where: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'is not a field name (letters, digits, _ and -)'), whereValue)
      .refine((where) => Object.keys(where).length > 0, { message: 'names no field' })
      .optional()
      .meta({ description: 'Dynamic group: contacts whose fields equal one of the values (trimmed, any case), every field listed, evaluated when the mail arrives; a list means any of. Without where the group is fixed: the contacts\' groups column names its members.' }),
    description: z.string().optional().meta({ description: 'Free text for admins.' }),
  })
  .nullable()
  .transform((group) => group ?? {});

const groupsConfig = z
  .record(z.string(), groupSchema)
  .default({})
  .superRefine((groups, ctx) => {
    for (const name of Object.keys(groups)) {
      if (name === ALL_GROUP) ctx.addIssue({ code: 'custom', path: [name], message: '"all" is built in (every contact); allow it in a setup, do not declare it' });
      else if (name === 'postmaster') ctx.addIssue({ code: 'custom', path: [name], message: '"postmaster" is reserved for mail to the admin' });
      else if (!GROUP_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is not a group name: lower-case letters, digits, - and _, with at least one letter (so it never looks like a number)` });
    }
  });

export type GroupConfig = z.output<typeof groupSchema>;

/** How long finished rows are kept (`mail2sms purge` runs daily with it); at least 2 days: the caps look back 24 hours. */
const retention = () =>
  durationOrOff()
    .refine((ms) => ms === null || ms >= 2 * 86_400_000, { message: 'must be at least 2d (the daily caps look back 24 hours), or off' })
    .default(null);

export const mainSchema = z.strictObject({
  $schema: z.string().optional().meta({ description: 'JSON Schema reference for editors.' }),
  groups: groupsConfig.meta({ description: 'Contact groups senders may address as <group>@<sms domain>: fixed (`board: {}`, members named by the contacts\' `groups` column) or dynamic (`u14-parents: {where: {team: U14}}`, evaluated when the mail arrives; a list means any of). Names: lower-case letters, digits, - and _, with at least one letter; `all` is built in.' }),
  smtp: z.strictObject({
    listen: listen.meta({ description: 'host:port of the SMTP intake ([::1]:25 for IPv6).' }),
    hostname: z.string().min(1).default('mail2sms.localdomain').meta({ description: 'Name in the greeting and the EHLO reply.' }),
    max_message_size: size.default(1024 * 1024).meta({ description: 'Larger mails get 552 5.3.4 (at MAIL FROM when the client announces SIZE=, else at DATA).' }),
    max_recipients: z.number().int().min(1).max(1000).default(50).meta({ description: 'RCPT TOs per mail; more get 452 4.5.3 (the client sends the rest in another mail).' }),
    max_clients: z.number().int().min(1).default(200).meta({ description: 'Concurrent connections; more get 421.' }),
    socket_timeout: duration().default(60_000).meta({ description: 'Idle time before a connection is closed.' }),
    tls: z.strictObject({
      cert: z.string().min(1).meta({ description: 'PEM certificate file (chain) for STARTTLS.' }),
      key: z.string().min(1).meta({ description: 'PEM private key file for STARTTLS.' }),
    }).optional().meta({ description: 'STARTTLS. The files are read at start and on every reload (new handshakes use the new certificate); turning STARTTLS on or off needs a restart.' }),
    require_tls: z.boolean().default(true).meta({ description: 'AUTH only after STARTTLS (before it smtp-server answers 538). A setup with smtp_auth and no smtp.tls is a config error unless this is false.' }),
    auth_failure_delay: duration().default(1000).meta({ description: 'Wait before answering a failed AUTH, to slow down guessing.' }),
    auth_failure_limit: z.number().int().min(1).default(10).meta({ description: 'Failed AUTHs from one address within an hour before it gets 454 4.7.0 for the rest of the hour. Every attempt counts the moment it is made; a successful login takes back only its own.' }),
    max_connection_rate: z.number().int().min(1).default(600).meta({ description: 'New connections per client address per minute; more get 421 4.7.0.' }),
    postmaster_rate: z.number().int().min(1).default(10).meta({ description: 'Mails for postmaster from senders no setup claims (abuse desks), per client address per hour; more get 450 4.7.0.' }),
    postmaster_max_size: size.default(256 * 1024).meta({ description: 'Size limit for those mails (552 5.3.4); max_message_size still applies.' }),
    max_clients_per_address: z.number().int().min(1).default(20).meta({ description: 'Concurrent connections from one client address; more get 421 4.7.0 (except clients in connection_limit_exceptions).' }),
    connection_limit_exceptions: z
      .array(z.union([z.literal('authorize.ip'), cidr]))
      .default(['authorize.ip'])
      .meta({ description: 'Clients max_clients_per_address and max_connection_rate do not apply to, like Postfix\'s smtpd_client_event_limit_exceptions = $mynetworks: CIDR ranges, and `authorize.ip` for every setup\'s authorize.ip networks (the default: a business system sending 50 alerts over 50 parallel connections). [] = the caps hold for every client; max_clients still counts them.' }),
    reserved_clients: z.number().int().min(0).default(20).meta({ description: 'Of max_clients, this many are kept for clients in a setup\'s authorize.ip (at most half of max_clients): others get 421 once only these are left.' }),
    max_transaction_time: duration().default(300_000).meta({ description: 'MAIL FROM to the end of DATA may take at most this long; then 421 4.4.2 and the connection is closed.' }),
    min_data_rate: size.default(1024).meta({ description: 'Slowest DATA accepted, in bytes per second, measured over each 10 s (or socket_timeout if shorter); slower gets 421 4.4.2.' }),
    max_mime_parts: z.number().int().min(1).default(100).meta({ description: 'MIME parts one mail may have (every Content-Type counts); more get 554 5.6.0.' }),
    max_mime_depth: z.number().int().min(1).default(20).meta({ description: 'Nesting of multipart/message parts; deeper gets 554 5.6.0.' }),
    max_html_depth: z.number().int().min(1).default(256).meta({ description: 'Element nesting of HTML converted to text; deeper gets 554 5.6.0.' }),
    max_html_size: size.default(512 * 1024).meta({ description: 'HTML converted to text; larger gets 554 5.6.0.' }),
    parse_timeout: duration().default(5000).meta({ description: 'Time one mail\'s MIME parse and HTML conversion may take (in a worker); longer is stopped and the mail gets 554 5.6.0.' }),
    parse_workers: z.number().int().min(1).max(16).default(2).meta({ description: 'Worker threads that parse MIME mail off the SMTP event loop.' }),
    proxy_protocol: z
      .array(z.string().refine((value) => isIP(value) !== 0, { message: 'is not an IP address' }))
      .default([])
      .meta({ description: 'Addresses of load balancers that send a PROXY protocol v1/v2 header (and must); IP rules and rates then see the real client.' }),
  }).meta({ description: 'The SMTP intake: where it listens, its limits, STARTTLS and AUTH.' }),
  sms_domains: z.array(domain).min(1, 'lists no SMS domain').meta({ description: 'Domains whose addresses are phone numbers (+4520123456@sms.example.test). Mail to any other domain gets 550 5.7.1 Relaying denied.' }),
  postmaster: emailAddress.optional().meta({ description: 'Where mail to postmaster@<sms domain> is forwarded when notify.admin is not set (needs notify.relay; without it the mail is accepted and logged).' }),
  setups_dir: z.string().default('setups').meta({ description: 'Directory of setup files (*.yaml, one setup each), relative to this file.' }),
  runtime_dir: z.string().min(1).optional().meta({ description: 'Where the daemon keeps its pid file and reload answer (mail2sms.pid, mail2sms.reload.json), relative to this file. Unset: $RUNTIME_DIRECTORY (the systemd unit\'s RuntimeDirectory=, /run/mail2sms), else the SQLite ledger\'s directory, else (PostgreSQL) this file\'s directory. A change needs a restart.' }),
  automations_dir: z.string().default('automations').meta({ description: 'Directory of automation files (*.yaml, one scheduled SMS each), relative to this file. A missing default directory means none; a missing directory you name is an error.' }),
  storage: z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('sqlite').optional().meta({ description: 'The embedded default: one daemon, one SQLite file.' }),
      path: z.string().min(1).meta({ description: 'The SQLite ledger file. `mail2sms migrate` creates it; `serve` never does.' }),
      bookkeeping_delay: durationOrOff().transform((ms) => ms ?? 0).default(10).meta({ description: 'How long dispatch bookkeeping (sent, retries, receipts) may wait to share a commit with others.' }),
      retention: retention().meta({ description: 'Finished rows older than this (at least 2d) are deleted daily, as `mail2sms purge --older-than` does; consent events are kept. off = keep everything.' }),
    }),
    z.strictObject({
      type: z.literal('postgres').meta({ description: 'Several daemons sharing one ledger on PostgreSQL 13 or newer.' }),
      url: postgresUrl().meta({ description: 'postgres://user:password@host:5432/database; ${ENV} references are read from the environment (keep the password out of the file). check-config checks its form, the daemon connects at start (exit 69 naming host and port when it cannot) and never logs the password.' }),
      pool: z.number().int().min(2).max(1000).default(10).meta({ description: 'Connections this daemon keeps to the database (besides one for LISTEN and the dispatcher election). Keep it above dispatch.concurrency: each provider call holds one (the send guard).' }),
      retention: retention().meta({ description: 'Finished rows older than this (at least 2d) are deleted daily, as `mail2sms purge --older-than` does; consent events are kept. off = keep everything.' }),
    }),
  ]).meta({ description: 'The ledger: SQLite (one daemon, one file) or PostgreSQL (several daemons, one ledger).' }),
  http: z.strictObject({
    listen: listen.meta({ description: 'host:port of the HTTP listener: receipts, inbound SMS, POST /sends, PUT /contacts, /healthz, /metrics and the console. Keep it on loopback or a management network.' }),
    public_url: z.url().optional().meta({ description: 'Base URL the provider uses to reach /receipts and /inbound. Default: http://<http.listen>.' }),
    tokens: z.array(apiToken).default([]).meta({ description: 'Bearer tokens for POST /sends, PUT /contacts and the console (`Authorization: Bearer <token>`); only their SHA-256 is stored. `mail2sms token <name>` prints a token and its sha256.' }),
    console: z.strictObject({ enabled: z.boolean().default(false).meta({ description: 'Serve the console at /console/; reloads live.' }) }).default({ enabled: false }).meta({ description: 'The read-only operations console (docs/console.md).' }),
    max_concurrent_bodies: z.number().int().min(1).default(8).meta({ description: 'Request bodies read at once (/sends, /contacts, /receipts, /inbound); more get 503 with Retry-After: 1 before a byte of theirs is read.' }),
  }).meta({ description: 'The HTTP listener.' }),
  consent: consentConfig.meta({ description: 'Marketing purposes, the STOP clause, keywords and the answers to them.' }),
  notify: notifySchema.optional().meta({ description: 'Email mail2sms sends through your relay: delivery reports, forwarded SMS replies, postmaster forwards. Absent = none is sent (postmaster mail is accepted and logged only).' }),
  limits: z
    .strictObject({
      per_number_daily: z.union([z.literal('off'), z.number().int().min(1)]).transform((v) => (v === 'off' ? null : v)).default(100).meta({ description: 'SMS one number may get from the whole organisation (every setup and channel) in any 24 hours; off = no cap. 100 is far above what a cooldown lets through in an incident night and far below what a mail loop sends.' }),
      clock_skew: duration().default(300_000).meta({ description: 'How far ahead of this server\'s clock a reported send (record-send --at, POST /sends "at") may be; later is refused with the reason.' }),
    })
    .default({ per_number_daily: 100, clock_skew: 300_000 })
    .meta({ description: 'Organisation-wide caps.' }),
  provider: providerConfig.optional().meta({ description: 'One SMS provider (the built-in simulator or a generic HTTP/JSON API described here): shorthand for one provider and one route. Use providers and routes for several.' }),
  providers: z
    .record(PROVIDER_NAME, providerConfig)
    .optional()
    .meta({ description: 'Named providers (issue 24), each with its own contract: `gw: {type: http, …}`. Callbacks arrive at /receipts/<name> and /inbound/<name>. Instead of provider.' }),
  routes: z
    .array(routeSchema)
    .optional()
    .meta({ description: 'Which providers an SMS goes through, in failover order; the first route whose every match holds wins. Default: one route through every provider in the order listed.' }),
  dispatch: z
    .strictObject({
      concurrency: z.number().int().min(1).max(256).default(8).meta({ description: 'Provider calls in flight at once.' }),
      poll_interval: duration().default(1000).meta({ description: 'How often to look for due rows without a wake-up.' }),
      lease: duration().default(60_000).meta({ description: 'How long a claimed row is owned before another worker may retry it (same idempotency key).' }),
      max_attempts: z.number().int().min(1).default(8).meta({ description: 'Attempts before a temporarily failing row ends failed.' }),
      retry_base: duration().default(2000).meta({ description: 'First backoff; doubles per attempt, ±50 % jitter, never sooner than Retry-After.' }),
      rate_limit: z.union([z.literal('off'), z.number().min(0)]).transform((v) => (v === 'off' ? 0 : v)).default(0).meta({ description: 'Provider-wide SMS per second, your contract with the provider: calls are paced evenly and never more arrive in any second. 0 or off = no limit. On PostgreSQL one elected daemon dispatches when this is set.' }),
      retry_max: duration().default(300_000).meta({ description: 'Longest wait between two attempts.' }),
      max_retry_age: duration().default(86_400_000).meta({ description: 'A row still failing temporarily this long after it was accepted fails with the last reason.' }),
      max_schedule_ahead: duration().default(7 * 86_400_000).meta({ description: 'How far ahead X-SMS-Send-At may schedule an SMS.' }),
      receipt_grace: duration().default(600_000).meta({ description: 'A receipt for an id not known yet is parked this long for the send\'s answer to name it; after that, 404.' }),
      shutdown_timeout: duration().default(10_000).meta({ description: 'On SIGTERM: how long in-flight sends may take before the daemon exits (their leases expire and they are retried with the same idempotency key).' }),
    })
    .default({
      concurrency: 8,
      poll_interval: 1000,
      lease: 60_000,
      max_attempts: 8,
      retry_base: 2000,
      rate_limit: 0,
      retry_max: 300_000,
      max_retry_age: 86_400_000,
      max_schedule_ahead: 7 * 86_400_000,
      receipt_grace: 600_000,
      shutdown_timeout: 10_000,
    })
    .meta({ description: 'Sending: concurrency, retries, the provider rate limit, scheduling.' }),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info').meta({ description: 'Lowest level written (pino JSON on stdout).' }),
      content: z.boolean().default(false).meta({ description: 'Log mail subjects (postmaster mail) at info/warn; otherwise only at debug, since a subject can hold numbers and is the SMS text with `text: subject`.' }),
    })
    .default({ level: 'info', content: false })
    .meta({ description: 'Logging.' }),
}).superRefine((main, ctx) => {
  // One provider (the shorthand) or named providers with routes; routes name providers that exist.
  if (main.provider && main.providers) ctx.addIssue({ code: 'custom', path: ['providers'], message: 'give either provider (one) or providers (several), not both' });
  else if (!main.provider && !main.providers) ctx.addIssue({ code: 'custom', path: ['provider'], message: 'is required (or providers: with named providers)' });
  if (main.routes && !main.providers) ctx.addIssue({ code: 'custom', path: ['routes'], message: 'routes need named providers (providers:), not provider:' });
  const names = new Set(Object.keys(main.providers ?? {}));
  main.routes?.forEach((route, i) =>
    route.providers.forEach((name, j) => {
      if (!names.has(name)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'providers', j], message: `"${name}" is not a provider (providers: ${[...names].join(', ') || 'none'})` });
    }),
  );
});

export type MainConfig = z.output<typeof mainSchema>;
