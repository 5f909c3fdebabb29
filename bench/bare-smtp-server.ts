/*
 * The baseline for bench/smtp-throughput.ts: a bare smtp-server with the same
 * options as mail2sms's intake (src/smtp/server.ts) that accepts every mail,
 * consumes the DATA stream, discards it and answers 250. It runs as its own
 * process, like the daemon, so both are measured the same way.
 *
 * With --store it is the floor of the chosen stack (bench/postfix.ts's
 * floor-sqlite targets): each mail's body is hashed (sha256) and stored as one
 * row in a SQLite file (bench/floor-ledger.ts), group-committed with fsync, in
 * a worker thread (`sqlite`) or on this thread (`sqlite-inline`), and the 250
 * goes only after the commit.
 *
 *   node dist/bench/bare-smtp-server.js [--port 0] [--max-clients 200] [--store none|sqlite|sqlite-inline --db FILE]
 *
 * Prints {"port":N} on stdout once listening; on SIGTERM/SIGINT closes and
 * prints {"messages":M,"bytes":B}, then exits.
 */
import { hash, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { createInlineStore, createWorkerStore, type FloorStore } from './floor-ledger.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'max-clients': { type: 'string', default: '200' },
    store: { type: 'string', default: 'none' },
    db: { type: 'string' },
  },
});
if (!['none', 'sqlite', 'sqlite-inline'].includes(values.store ?? '') || (values.store !== 'none' && !values.db)) {
  process.stderr.write('bare-smtp-server: --store none|sqlite|sqlite-inline; sqlite needs --db FILE\n');
  process.exit(2);
}

let messages = 0;
let bytes = 0;
const floor: FloorStore | undefined =
  values.store === 'sqlite' ? createWorkerStore(values.db as string) : values.store === 'sqlite-inline' ? createInlineStore(values.db as string) : undefined;

type Answer = (error?: Error | null, message?: string) => void;

/** The floor's work per mail: hash the body, one durable row, then the 250. */
function storeMail(store: FloorStore, session: SMTPServerSession, body: Buffer, callback: Answer): void {
  const queueId = randomUUID();
  const sender = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
  const recipient = session.envelope.rcptTo[0]?.address ?? '';
  store.store([queueId, sender, recipient, hash('sha256', body), body.toString('utf8'), Date.now()]).then(
    () => callback(null, `2.0.0 Queued as ${queueId}`),
    (error: unknown) => callback(Object.assign(new Error(`4.3.0 ${(error as Error).message}`), { responseCode: 451 })),
  );
}

const server = new SMTPServer({
  name: 'bare.example.test',
  banner: 'bare ESMTP',
  maxClients: Number(values['max-clients']),
  disabledCommands: ['AUTH', 'STARTTLS'],
  authOptional: true,
  logger: false,
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (floor) chunks.push(chunk);
    });
    stream.on('end', () => {
      messages++;
      if (floor) storeMail(floor, session, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks), callback);
      else callback(null, '2.0.0 Discarded');
    });
  },
});
server.on('error', () => {
  // connection-level errors (a client that vanished) are not interesting here
});

server.listen(Number(values.port), '127.0.0.1', () => {
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : Number(values.port);
  process.stdout.write(JSON.stringify({ port }) + '\n');
});

let stopping = false;
const stop = () => {
  if (stopping) process.exit(1);
  stopping = true;
  const force = setTimeout(() => process.exit(1), 5000);
  force.unref();
  server.close(() => {
    void (floor ? floor.close() : Promise.resolve()).then(() => {
      process.stdout.write(JSON.stringify({ messages, bytes }) + '\n', () => process.exit(0));
    });
  });
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
