import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { ListenAddress } from './units.js';

export class BodyTooLarge extends Error {}

/**
 * Reads a request body up to `limit` bytes; rejects with BodyTooLarge beyond
 * it, at once when Content-Length says so. The rest is not stored and the
 * socket is not destroyed, so the client reads a 413 rather than a reset.
 */
export function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > limit) {
      reject(new BodyTooLarge(`body of ${declared} bytes is over the limit of ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size > limit) return;
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        reject(new BodyTooLarge(`body over the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    // A receipt's body is one chunk: decoded as it is, not copied into a new buffer first.
    req.on('end', () => resolve((chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('utf8')));
    req.on('error', reject);
  });
}

const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * A JSON answer serialised once, with its headers, for answers a route gives
 * thousands of times a second (a receipt's `{"outcome":"applied"}`).
 */
export class PreparedJson {
  readonly text: string;
  readonly headers: Readonly<Record<string, string | number>>;
  constructor(body: unknown) {
    this.text = JSON.stringify(body);
    this.headers = { 'content-type': JSON_CONTENT_TYPE, 'content-length': Buffer.byteLength(this.text) };
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (body instanceof PreparedJson) {
    res.writeHead(status, Object.keys(headers).length === 0 ? body.headers : { ...body.headers, ...headers });
    res.end(body.text);
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_CONTENT_TYPE, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/**
 * Answers a request whose body will not be stored (refused from its headers,
 * or too large) and discards the rest of the upload as it comes. The
 * connection is not cut: a socket closed on unread data sends a reset, which
 * can reach the client before our answer does. The server's requestTimeout
 * bounds how long an upload can go on.
 */
export function refuseBody(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJson(res, status, body, headers);
  req.resume();
}

/** Listens and resolves with the bound port (port 0 picks a free one). */
export function listenOn(server: Server, address: ListenAddress): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      const bound = server.address();
      resolve(typeof bound === 'object' && bound ? bound.port : address.port);
    });
  });
}

/**
 * Stops listening and ends keep-alive connections as soon as they are idle
 * (a peer's kept-alive socket would otherwise hold close() for its whole
 * timeout); after `graceMs` whatever is still open is cut.
 */
export function closeServer(server: Server, graceMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const cut = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(cut);
      resolve();
    });
    server.closeIdleConnections();
  });
}
