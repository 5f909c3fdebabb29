import { connect, type Socket } from 'node:net';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

/*
 * Load for the durability tests: a raw SMTP client that sends many mails over
 * one connection (nodemailer opens a connection per mail, and smtp-server
 * pauses ~100 ms before each greeting), and distinct valid recipient numbers.
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

export interface Reply {
  code: number;
  text: string;
}

const REPLY_TIMEOUT_MS = 30_000;

/** One SMTP connection; `send` speaks MAIL FROM / RCPT TO / DATA for one mail and resolves with the final reply. */
export class SmtpClient {
  private socket: Socket | undefined;
  private buffer = '';
  private lines: string[] = [];
  private readonly replies: Reply[] = [];
  private waiter: { resolve: (reply: Reply) => void; reject: (error: Error) => void; timer: NodeJS.Timeout } | undefined;
  private failure: Error | undefined;

  constructor(private readonly port: number) {}

  get failed(): boolean {
    return this.failure !== undefined;
  }

  async open(): Promise<void> {
    this.socket = await new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: this.port, noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    });
    this.socket.setEncoding('latin1');
    this.socket.on('data', (chunk: string) => this.onData(chunk));
    this.socket.on('error', (error) => this.onEnd(error));
    this.socket.on('close', () => this.onEnd(new Error('connection closed by server')));
    const greeting = await this.read();
    if (greeting.code !== 220) throw new Error(`greeting: ${greeting.code} ${greeting.text}`);
    this.write('EHLO load-client.example.test\r\n');
    const ehlo = await this.read();
    if (ehlo.code !== 250) throw new Error(`EHLO: ${ehlo.code} ${ehlo.text}`);
  }

  /** One mail; `message` is the dot-stuffed message ending in CRLF.CRLF. Rejects when the connection fails. */
  async send(from: string, rcpt: string, message: string): Promise<Reply> {
    this.write(`MAIL FROM:<${from}>\r\n`);
    const mail = await this.read();
    if (mail.code !== 250) return mail;
    this.write(`RCPT TO:<${rcpt}>\r\n`);
    const rcptReply = await this.read();
    if (rcptReply.code !== 250) {
      this.write('RSET\r\n');
      await this.read();
      return rcptReply;
    }
    this.write('DATA\r\n');
    const data = await this.read();
    if (data.code !== 354) return data;
    this.write(message);
    return this.read();
  }

  async quit(): Promise<void> {
    if (!this.socket || this.failure) return;
    try {
      this.write('QUIT\r\n');
      await this.read();
    } catch {
      // gone already
    }
    this.socket.destroy();
  }

  destroy(): void {
    this.socket?.destroy();
  }

  private write(data: string): void {
    if (this.failure) throw this.failure;
    (this.socket as Socket).write(data);
  }

  private read(): Promise<Reply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        const error = new Error(`no reply within ${REPLY_TIMEOUT_MS} ms`);
        this.onEnd(error);
        reject(error);
      }, REPLY_TIMEOUT_MS);
      this.waiter = { resolve, reject, timer };
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let at: number;
    while ((at = this.buffer.indexOf('\r\n')) !== -1) {
      const line = this.buffer.slice(0, at);
      this.buffer = this.buffer.slice(at + 2);
      this.lines.push(line);
      if (line.length < 4 || line[3] !== '-') {
        const reply: Reply = { code: Number(line.slice(0, 3)), text: this.lines.map((l) => l.slice(4)).join('\n') };
        this.lines = [];
        const waiter = this.waiter;
        if (waiter) {
          this.waiter = undefined;
          clearTimeout(waiter.timer);
          waiter.resolve(reply);
        } else this.replies.push(reply);
      }
    }
  }

  private onEnd(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.socket?.destroy();
  }
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
      const client = new SmtpClient(port);
      try {
        await client.open();
      } catch {
        return;
      }
      while (next < items.length) {
        const index = next++;
        const item = items[index] as BatchItem;
        try {
          results[index] = await client.send(from, item.rcpt, item.message);
        } catch {
          return;
        }
      }
      await client.quit();
    }),
  );
  return results;
}
