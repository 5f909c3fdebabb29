import { describe, expect, it } from 'vitest';
import { createNotifySchema, notifySchema } from '../src/config/notify.js';

/* The `notify:` block: defaults, ${ENV} secrets, and the refusals that prevent leaks and loops. */

const ENV = { RELAY_PASS: 'from-the-environment', RELAY_USER: 'mail2sms' };
const schema = createNotifySchema(ENV);

function problems(input: unknown): string[] {
  const result = schema.safeParse(input);
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('notifySchema', () => {
  it('fills in defaults', () => {
    expect(schema.parse({ relay: { host: 'relay.example.test', from: 'Mail2SMS@Example.test' } })).toEqual({
      relay: { host: 'relay.example.test', port: 25, secure: false, starttls: 'opportunistic', from: 'mail2sms@example.test', timeout: 30_000 },
      report_batch_delay: 30_000,
      report_timeout: 3_600_000,
    });
  });

  it('takes the full block, durations as text, a password from ${ENV}', () => {
    const parsed = schema.parse({
      relay: { host: 'smtp.example.test', port: 587, starttls: 'require', auth: { user: '${RELAY_USER}', pass: '${RELAY_PASS}' }, from: 'mail2sms@example.test', timeout: '10s' },
      report_batch_delay: '2m',
      admin: 'postmaster-forward@example.test',
    });
    expect(parsed.relay).toEqual({
      host: 'smtp.example.test', port: 587, secure: false, starttls: 'require',
      auth: { user: 'mail2sms', pass: 'from-the-environment' }, from: 'mail2sms@example.test', timeout: 10_000,
    });
    expect(parsed.report_batch_delay).toBe(120_000);
    expect(parsed.admin).toBe('postmaster-forward@example.test');
  });

  it('secure defaults the port to 465; a literal password is taken as it is', () => {
    const parsed = schema.parse({ relay: { host: 'smtp.example.test', secure: true, auth: { user: 'u', pass: 'pa${ss' }, from: 'mail2sms@example.test' } });
    expect(parsed.relay.port).toBe(465);
    expect(parsed.relay.auth?.pass).toBe('pa${ss');
  });

  it.each<[string, unknown, string]>([
    ['an unset variable, named without a value', { host: 'h.test', starttls: 'require', auth: { user: 'u', pass: '${NOT_SET}' }, from: 'a@b.test' }, 'relay.auth.pass: environment variable NOT_SET is not set'],
    ['auth over opportunistic STARTTLS', { host: 'h.test', auth: { user: 'u', pass: 'p' }, from: 'a@b.test' }, 'relay.starttls: with auth, use secure: true or starttls: require'],
    ['auth with STARTTLS off', { host: 'h.test', starttls: 'off', auth: { user: 'u', pass: 'p' }, from: 'a@b.test' }, 'relay.starttls: with auth'],
    ['from a postmaster address', { host: 'h.test', from: 'postmaster@b.test' }, 'relay.from: must not be a postmaster address'],
    ['from a mailer-daemon address', { host: 'h.test', from: 'MAILER-DAEMON@b.test' }, 'relay.from: must not be a mailer-daemon address'],
    ['from not an address', { host: 'h.test', from: 'mail2sms' }, 'relay.from: is not an email address'],
    ['a bad timeout', { host: 'h.test', from: 'a@b.test', timeout: 'soon' }, 'relay.timeout: "soon" is not a duration'],
    ['a bad port', { host: 'h.test', from: 'a@b.test', port: 70000 }, 'relay.port:'],
    ['an unknown starttls mode', { host: 'h.test', from: 'a@b.test', starttls: 'maybe' }, 'relay.starttls:'],
    ['an unknown key', { host: 'h.test', from: 'a@b.test', tls: {} }, 'relay: Unrecognized key'],
  ])('refuses %s', (_what, relay, expected) => {
    expect(problems({ relay }).join('\n')).toContain(expected);
  });

  it('refuses a bad admin address and a bad batch delay', () => {
    const found = problems({ relay: { host: 'h.test', from: 'a@b.test' }, admin: 'nobody', report_batch_delay: 'later' }).join('\n');
    expect(found).toContain('admin: is not an email address');
    expect(found).toContain('report_batch_delay: "later" is not a duration');
  });

  it('the exported schema reads process.env when the config is parsed', () => {
    process.env.MAIL2SMS_TEST_RELAY_PASS = 'set-late';
    try {
      const parsed = notifySchema.parse({ relay: { host: 'h.test', secure: true, auth: { user: 'u', pass: '${MAIL2SMS_TEST_RELAY_PASS}' }, from: 'a@b.test' } });
      expect(parsed.relay.auth?.pass).toBe('set-late');
    } finally {
      delete process.env.MAIL2SMS_TEST_RELAY_PASS;
    }
  });
});
