import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../src/core/log.js';
import { closeServer, listenOn, readBody } from '../src/core/http-server-kit.js';

/** A logger that drops everything (the simulator under test logs at info). */
export function quietLogger(): Logger {
  return createLogger({ level: 'warn', destination: new Writable({ write: (_chunk, _enc, done) => done() }) });
}

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface TestServer {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/**
 * A tiny real HTTP server on 127.0.0.1:0: records every request and answers
 * with `reply` (default 200 {}); `reply` may also leave the response hanging
 * or destroy the socket, as odd providers do.
 */
export async function startTestServer(
  reply: (request: Received, res: ServerResponse) => void = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  },
): Promise<TestServer> {
  const received: Received[] = [];
  const open = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    void readBody(req).then((body) => {
      const request = { method: req.method ?? '', path: req.url ?? '/', headers: req.headers, body };
      received.push(request);
      reply(request, res);
    });
  });
  const port = await listenOn(server, { host: '127.0.0.1', port: 0 });
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    async close() {
      for (const res of open) res.destroy();
      await closeServer(server, 200);
    },
  };
}

/**
 * The first table under "## Statuses" in a provider's page in docs/providers/,
 * as its cells per row (header and separator left out): the docs print the
 * adapter's status table, and a test compares the two.
 */
export function docStatusTable(page: string): string[][] {
  const text = readFileSync(page, 'utf8');
  const section = text.slice(text.indexOf('\n## Statuses'));
  const rows = section.split('\n').filter((line) => line.startsWith('|'));
  return rows.slice(2).map((line) => line.slice(1, -1).split('|').map((cell) => cell.trim()));
}
