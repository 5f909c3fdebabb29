/*
 * The baseline for bench/smtp-throughput.ts: a bare smtp-server with the same
 * options as mail2sms's intake (src/smtp/server.ts) that accepts every mail,
 * consumes the DATA stream, discards it and answers 250. It runs as its own
 * process, like the daemon, so both are measured the same way.
 *
 *   node dist/bench/bare-smtp-server.js [--port 0]
 *
 * Prints {"port":N} on stdout once listening; on SIGTERM/SIGINT closes and
 * prints {"messages":M,"bytes":B}, then exits.
 */
import { parseArgs } from 'node:util';
import { SMTPServer } from 'smtp-server';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' }, 'max-clients': { type: 'string', default: '200' } } });

let messages = 0;
let bytes = 0;

const server = new SMTPServer({
  name: 'bare.example.test',
  banner: 'bare ESMTP',
  maxClients: Number(values['max-clients']),
  disabledCommands: ['AUTH', 'STARTTLS'],
  authOptional: true,
  logger: false,
  onData(stream, _session, callback) {
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    stream.on('end', () => {
      messages++;
      callback(null, '2.0.0 Discarded');
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
    process.stdout.write(JSON.stringify({ messages, bytes }) + '\n', () => process.exit(0));
  });
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
