/*
 * A raw SMTP client over node:net for load: one connection sends many mails
 * (smtp-server pauses ~100 ms before every greeting, so a connection per mail
 * would measure that pause). The benches pipeline MAIL/RCPT/DATA and time
 * DATA→final reply; the durability tests (test/load.ts) speak one command at
 * a time. Loopback only.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** Each SMTP reply must come within this, or the connection counts as failed. */
const REPLY_TIMEOUT_MS = 30_000;

export interface Reply {
  code: number;
  text: string;
}

export class SmtpConnection {
  private socket: Socket | undefined;
  private buffer = '';
  private lines: string[] = [];
  private readonly replies: Reply[] = [];
  private waiter: { resolve: (reply: Reply) => void; reject: (error: Error) => void; timer: NodeJS.Timeout } | undefined;
  private failure: Error | undefined;
  private pipelining = false;

  constructor(private readonly port: number) {}

  /** Connects, reads the greeting and says EHLO as `helo`. */
  async open(helo = 'bench-client.example.test'): Promise<void> {
    this.socket = await new Promise<Socket>((resolveSocket, reject) => {
      const socket = connect({ host: '127.0.0.1', port: this.port, noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolveSocket(socket);
      });
      socket.once('error', reject);
    });
    this.socket.setEncoding('latin1');
    this.socket.on('data', (chunk: string) => this.onData(chunk));
    this.socket.on('error', (error) => this.onEnd(error));
    this.socket.on('close', () => this.onEnd(new Error('connection closed by server')));
    const greeting = await this.read();
    if (greeting.code !== 220) throw new Error(`greeting: ${greeting.code} ${greeting.text}`);
    this.write(`EHLO ${helo}\r\n`);
    const ehlo = await this.read();
    if (ehlo.code !== 250) throw new Error(`EHLO: ${ehlo.code} ${ehlo.text}`);
    this.pipelining = /\bPIPELINING\b/i.test(ehlo.text);
  }

  /** One mail, MAIL/RCPT/DATA pipelined; returns the final reply and the DATA→final-reply latency (ms), or undefined if DATA was refused. */
  async send(from: string, rcpt: string, message: Buffer): Promise<{ reply: Reply; latencyMs: number | undefined }> {
    if (!this.pipelining) throw new Error('server does not advertise PIPELINING');
    this.write(`MAIL FROM:<${from}>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`);
    const mail = await this.read();
    const rcptReply = await this.read();
    const data = await this.read();
    if (data.code !== 354) {
      const first = mail.code !== 250 ? mail : rcptReply.code !== 250 ? rcptReply : data;
      return { reply: first, latencyMs: undefined };
    }
    const start = performance.now();
    this.write(message);
    const final = await this.read();
    const latencyMs = performance.now() - start;
    // A refused MAIL or RCPT followed by a 354 would be a server bug; count it as the error it is.
    if (mail.code !== 250) return { reply: mail, latencyMs };
    if (rcptReply.code !== 250) return { reply: rcptReply, latencyMs };
    return { reply: final, latencyMs };
  }

  /**
   * One mail, a command at a time (RSET after a refused recipient); `message`
   * is dot-stuffed and ends in CRLF.CRLF. Rejects when the connection fails.
   */
  async sendInTurn(from: string, rcpt: string, message: string): Promise<Reply> {
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

  private write(data: string | Buffer): void {
    if (this.failure) throw this.failure;
    (this.socket as Socket).write(data);
  }

  private read(): Promise<Reply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolveReply, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        const error = new Error(`no reply within ${REPLY_TIMEOUT_MS} ms`);
        this.onEnd(error);
        reject(error);
      }, REPLY_TIMEOUT_MS);
      this.waiter = { resolve: resolveReply, reject, timer };
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
        } else {
          this.replies.push(reply);
        }
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

