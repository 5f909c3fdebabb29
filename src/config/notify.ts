import { z } from 'zod';
import { duration as durationField, emailAddress, secretField, type Env } from './fields.js';

export type { Env };

const duration = durationField();

/*
 * The `notify:` block of the main config. Its output is what createRelay takes
 * (`relay`) plus what the ledger owner's batching needs, so the daemon passes
 * `config.notify.relay` straight through.
 */

/** Builds the schema against an environment (tests pass their own); `notifySchema` reads process.env. */
export function createNotifySchema(env: Env) {
  const relay = z
    .strictObject({
      host: z.string().min(1),
      /** Default 465 with `secure`, else 25. */
      port: z.number().int().min(1).max(65535).optional(),
      secure: z.boolean().default(false),
      starttls: z.enum(['require', 'opportunistic', 'off']).default('opportunistic'),
      auth: z.strictObject({ user: secretField(env), pass: secretField(env) }).optional(),
      from: emailAddress,
      timeout: duration.default(30_000),
    })
    .superRefine((relay, ctx) => {
      if (relay.auth && !relay.secure && relay.starttls !== 'require') {
        // Opportunistic STARTTLS can be stripped by anyone on the path; the password would follow in clear.
        ctx.addIssue({ code: 'custom', path: ['starttls'], message: 'with auth, use secure: true or starttls: require (the password must never go out unencrypted)' });
      }
      const local = relay.from.slice(0, relay.from.lastIndexOf('@'));
      if (local === 'postmaster' || local === 'mailer-daemon') {
        // Bounces of our notifications come back to `from`; postmaster mail is forwarded by us: a loop.
        ctx.addIssue({ code: 'custom', path: ['from'], message: `must not be a ${local} address (bounces of notifications would be forwarded as postmaster mail, in a loop)` });
      }
    })
    .transform((relay) => ({ ...relay, port: relay.port ?? (relay.secure ? 465 : 25) }));

  return z.strictObject({
    relay,
    /** How often the reporter looks for mails whose outcomes are all in, so one report covers all of a mail's recipients. */
    report_batch_delay: duration.default(30_000),
    /** How long a report waits for delivery receipts of SMS already handed to the provider; after that they are reported as `sent`. */
    report_timeout: duration.default(3_600_000),
    /** Where mail to postmaster@<sms domain> is forwarded. */
    admin: emailAddress.optional(),
  });
}

export const notifySchema = createNotifySchema(process.env);

export type NotifyConfig = z.output<typeof notifySchema>;
