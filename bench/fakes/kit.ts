import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { closeServer, listenOn, readBody } from '../../src/core/http-server-kit.js';

/*
 * Local fakes of SMS providers' published HTTP APIs, for the adapter tests and
 * bench/adapters.ts: a real node:http server on 127.0.0.1 and a random port
 * that answers like the provider and refuses what the provider refuses
 * (wrong encoding, wrong field names, missing or bad credentials). Each fake
 * names the documentation it follows.
 */

export interface FakeRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface FakeAnswer {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export interface FakeServer {
  url: string;
  /** Requests answered so far (refused ones included). */
  requests: number;
  close(): Promise<void>;
}

/** A node:http server on 127.0.0.1:0 answering each request with `answer`. */
export async function startFake(answer: (request: FakeRequest) => FakeAnswer): Promise<FakeServer> {
  const open = new Set<ServerResponse>();
  const fake = { url: '', requests: 0, close: async () => {} };
  const server = createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    void readBody(req, 1024 * 1024).then((body) => {
      fake.requests++;
      const { status, body: out, headers = {} } = answer({ method: req.method ?? '', url: req.url ?? '/', headers: req.headers, body });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(out);
    });
  });
  const port = await listenOn(server, { host: '127.0.0.1', port: 0 });
  fake.url = `http://127.0.0.1:${port}`;
  fake.close = async () => {
    for (const res of open) res.destroy();
    await closeServer(server, 200);
  };
  return fake;
}

export const json = (status: number, body: unknown, headers?: Record<string, string>): FakeAnswer => ({ status, body: JSON.stringify(body), ...(headers ? { headers } : {}) });

/** The user and password of a Basic Authorization header, or undefined. */
export function basicCredentials(headers: IncomingHttpHeaders): { user: string; password: string } | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(headers.authorization ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The media type of a request, lower case, without parameters. */
export function mediaType(headers: IncomingHttpHeaders): string {
  return (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** POSTs a callback the way a provider does; resolves with the answer's status and body. */
export async function postCallback(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { method: 'POST', body, headers });
  return { status: response.status, body: await response.text() };
}

/** A scripted answer queue: tests push odd answers (429, 500) that the next calls get before the normal path. */
export function scripted(): { push(answer: FakeAnswer): void; next(): FakeAnswer | undefined } {
  const queue: FakeAnswer[] = [];
  return { push: (answer) => void queue.push(answer), next: () => queue.shift() };
}
