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
      host: z.string().min(1).meta({ description: 'Your outgoing SMTP relay.' }),
      port: z.number().int().min(1).max(65535).optional().meta({ description: 'Default 465 with secure, else 25.' }),
      secure: z.boolean().default(false).meta({ description: 'TLS from the first byte (port 465); the relay\'s certificate is checked.' }),
      starttls: z.enum(['require', 'opportunistic', 'off']).default('opportunistic').meta({ description: 'require: STARTTLS with a verified certificate. opportunistic: upgrade when offered, accepting a certificate that cannot be verified (RFC 7435). off: never.' }),
      auth: z.strictObject({
        user: secretField(env).meta({ description: 'Relay user; ${NAME} is read from the environment.' }),
        pass: secretField(env).meta({ description: 'Relay password; ${NAME} is read from the environment. Never logged.' }),
      }).optional().meta({ description: 'SMTP AUTH at the relay; refused unless TLS is enforced (secure or starttls: require).' }),
      from: emailAddress.meta({ description: 'Sender of reply forwards and header From of every notification; not a postmaster or mailer-daemon address (a loop).' }),
      timeout: duration.default(30_000).meta({ description: 'Connect, greeting and each socket read.' }),
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
    relay: relay.meta({ description: 'Your outgoing SMTP relay (nodemailer\'s pooled client, 2 connections).' }),
    report_batch_delay: duration.default(30_000).meta({ description: 'How often the reporter looks for mails whose outcomes are all in, so one report covers all of a mail\'s recipients.' }),
    report_timeout: duration.default(3_600_000).meta({ description: 'How long a report waits for the delivery receipt of an SMS handed to the provider; after that the SMS is reported as sent.' }),
    admin: emailAddress.optional().meta({ description: 'Where mail to postmaster@<sms domain> is forwarded. Default: the postmaster key.' }),
  });
}

export const notifySchema = createNotifySchema(process.env);

export type NotifyConfig = z.output<typeof notifySchema>;
