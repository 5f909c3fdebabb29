import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { describe, expect, it } from 'vitest';
import { parseSimpleEmail } from '../src/message/plain-text-fast-path.js';
import { parseEmailFully } from '../src/message/mime-parse.js';
import { buildSmsText } from '../src/message/text.js';

/*
 * The fast path must give exactly what the full MIME parse gives, or step aside.
 * Mails are built by nodemailer's composer (the encodings real clients produce)
 * and by hand (what odd systems send).
 */

function compose(options: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
  return new MailComposer({ from: 'ops@example.test', to: '+4520123456@sms.example.test', ...options }).compile().build();
}

const long = 'Disk usage on db1.example.test is 97 % — action needed before 14:00. '.repeat(6);

const composed: [string, ConstructorParameters<typeof MailComposer>[0], boolean][] = [
  ['plain ASCII', { subject: 'Alarm', text: 'Server down' }, true],
  ['UTF-8 with Danish letters and an emoji', { subject: 'Alarm', text: 'Brand i kælderen på Åboulevard 🚒' }, true],
  ['long lines (quoted-printable)', { subject: 'Disk', text: long }, true],
  ['forced base64', { subject: 'Disk', text: 'Køleanlæg fejl\nRing 112', textEncoding: 'base64' }, true],
  ['forced quoted-printable', { subject: 'Q', text: 'a=b\r\nsecond line ünïcödé', textEncoding: 'quoted-printable' }, true],
  ['message id and auto-submitted', { subject: 'x', text: 'CPU', messageId: '<abc.123@nagios.example.test>', headers: { 'Auto-Submitted': 'auto-generated' } }, true],
  ['vacation reply', { subject: 'Out of office', text: 'I am away', headers: { 'Auto-Submitted': 'auto-replied' } }, true],
  ['X-Autoreply', { subject: 'Away', text: 'away', headers: { 'X-Autoreply': 'yes' } }, true],
  ['encoded-word subject (full parse)', { subject: 'Advarsel: høj temperatur', text: 'Temp 41' }, false],
  ['HTML only (full parse)', { subject: 'x', html: '<p>Disk <b>full</b></p>' }, false],
  ['alternative text + HTML (full parse)', { subject: 'x', text: 'plain', html: '<p>html</p>' }, false],
  ['with an attachment (full parse)', { subject: 'x', text: 'see file', attachments: [{ filename: 'a.txt', content: 'data' }] }, false],
];

const handWritten: [string, string, boolean][] = [
  ['no MIME headers at all', 'From: a@example.test\r\nSubject: hi\r\n\r\nBackup failed\r\n', true],
  ['folded subject', 'Subject: part one\r\n part two\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n', true],
  ['latin-1 charset (full parse)', 'Content-Type: text/plain; charset=iso-8859-1\r\n\r\nK\xf8leanl\xe6g\r\n', false],
  ['format=flowed (full parse)', 'Content-Type: text/plain; charset=utf-8; format=flowed\r\n\r\nline one \r\nline two\r\n', false],
  ['invalid UTF-8 declared as UTF-8 (full parse)', 'Content-Type: text/plain; charset=utf-8\r\n\r\nK\xf8le\r\n', false],
  ['QP soft breaks and escapes', 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nK=C3=B8le=\r\nanl=C3=A6g =3D fejl\r\n', true],
  ['multipart/mixed (full parse)', 'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n', false],
];

async function expectSame(raw: Buffer, fastExpected: boolean): Promise<void> {
  const fast = parseSimpleEmail(raw);
  const full = await parseEmailFully(raw);
  expect(fast !== undefined).toBe(fastExpected);
  if (!fast) return;
  expect(buildSmsText(fast)).toEqual(buildSmsText(full));
  expect(fast.messageId).toBe(full.messageId);
  expect(fast.subject).toBe(full.subject);
  expect(fast.autoReply).toBe(full.autoReply);
}

describe('fast parse agrees with the full MIME parse', () => {
  it.each(composed)('%s', async (_name, options, fastExpected) => {
    await expectSame(await compose(options), fastExpected);
  });

  it.each(handWritten)('%s', async (_name, text, fastExpected) => {
    await expectSame(Buffer.from(text, 'latin1'), fastExpected);
  });
});
