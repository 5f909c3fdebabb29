import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { setupSchema } from '../src/config/schema.js';
import { measureSms } from '../src/message/encoding.js';
import { parseEmail } from '../src/message/mime-parse.js';
import { buildSmsText } from '../src/message/text.js';
import { textPolicyFor } from '../src/intake/policy.js';
import { alertsSetup } from './helpers.js';

/*
 * Real-world mails (test/fixtures/mail/NN-name.eml) and the SMS a person would
 * have typed (NN-name.sms.txt), or the refusal (NN-name.reject.json), with the
 * setup's text options in NN-name.setup.json.
 */

const dir = join(import.meta.dirname, 'fixtures', 'mail');
const cases = readdirSync(dir)
  .filter((file) => file.endsWith('.eml'))
  .sort()
  .map((file) => file.slice(0, -4));

function read(name: string, suffix: string): string | undefined {
  const file = join(dir, name + suffix);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

describe('any input', () => {
  it('never crashes the parser and never yields an empty SMS without a reason', async () => {
    const header = fc.constantFrom('', 'Content-Type: text/plain; charset=utf-8\r\n', 'Content-Type: multipart/mixed; boundary=x\r\n', 'Content-Transfer-Encoding: base64\r\n', 'Content-Type: text/html\r\n');
    await fc.assert(
      fc.asyncProperty(header, fc.uint8Array({ maxLength: 600 }), async (head, body) => {
        const raw = Buffer.concat([Buffer.from(`Subject: x\r\n${head}\r\n`), Buffer.from(body)]);
        const result = buildSmsText(await parseEmail(raw));
        if (result.ok) expect(result.text.trim()).not.toBe('');
        else expect(['no_text', 'too_long']).toContain(result.reason);
      }),
      { numRuns: 300 },
    );
  });
});

describe('the mail corpus', () => {
  it('has at least 40 mails, each with an expected SMS or refusal', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    for (const name of cases) expect([name, read(name, '.sms.txt') !== undefined || read(name, '.reject.json') !== undefined]).toEqual([name, true]);
  });

  it.each(cases)('%s', async (name) => {
    const options = JSON.parse(read(name, '.setup.json') ?? '{}') as Record<string, unknown>;
    const setup = { ...setupSchema.parse(alertsSetup(options)), file: `${name}.setup.json` };
    const email = await parseEmail(readFileSync(join(dir, `${name}.eml`)));
    const result = buildSmsText(email, textPolicyFor(setup));
    const reject = read(name, '.reject.json');
    if (reject) {
      const expected = JSON.parse(reject) as { code: string; segments?: number; max_segments?: number };
      expect(result).toMatchObject({
        ok: false,
        reason: expected.code,
        ...(expected.segments !== undefined ? { segments: expected.segments, maxSegments: expected.max_segments } : {}),
      });
      return;
    }
    const expected = (read(name, '.sms.txt') as string).replace(/\n$/, '');
    expect(result.ok ? result.text : result).toBe(expected);
    if (result.ok) expect(result.measure).toEqual(measureSms(expected));
  });
});
