import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { SmtpConnection, type Reply } from '../bench/smtp-client.js';

export type { Reply };

/*
 * Load for the durability tests: many mails over each connection with the
 * benches' raw SMTP client (nodemailer opens a connection per mail, and
 * smtp-server pauses ~100 ms before each greeting), and distinct valid
 * recipient numbers.
 */

/** `count` distinct valid Danish mobile numbers from `first` on (libphonenumber-js max metadata). */
export function danishNumbers(count: number, first = 4520100000): string[] {
  const numbers: string[] = [];
  for (let n = first; numbers.length < count; n++) {
    const e164 = `+${n}`;
    if (parsePhoneNumberFromString(e164)?.isValid()) numbers.push(e164);
  }
  return numbers;
}

/** A short text/plain mail with a fixed Message-ID, so sending it again is recognised as a retry. */
export function loadMail(options: { to: string; messageId: string; text: string; from?: string }): string {
  return (
    [
      `From: <${options.from ?? 'ops@example.test'}>`,
      `To: <${options.to}>`,
      'Subject: load',
      `Message-ID: <${options.messageId}>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      '',
      options.text,
    ].join('\r\n') + '\r\n.\r\n'
  );
}

export interface BatchItem {
  rcpt: string;
  message: string;
}

/**
 * Sends `items` over `connections` parallel connections (many mails each).
 * Returns the final reply per item, or undefined where the connection failed
 * before an answer (the client would retry those). A connection that fails is
 * not reopened: the caller decides when to resend.
 */
export async function sendBatch(port: number, items: BatchItem[], connections: number, from = 'ops@example.test'): Promise<(Reply | undefined)[]> {
  const results: (Reply | undefined)[] = new Array(items.length).fill(undefined);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(connections, items.length) }, async () => {
      const client = new SmtpConnection(port);
      try {
        await client.open('load-client.example.test');
      } catch {
        return;
      }
      while (next < items.length) {
        const index = next++;
        const item = items[index] as BatchItem;
        try {
          results[index] = await client.sendInTurn(from, item.rcpt, item.message);
        } catch {
          return;
        }
      }
      await client.quit();
    }),
  );
  return results;
}
