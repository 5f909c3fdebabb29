import { Agent, request } from 'node:http';

/*
 * A small JSON-over-HTTP POST on node:http with a keep-alive agent. We call the
 * provider thousands of times a second; fetch's per-call cost (web streams,
 * AbortSignal) was several times that of a plain request on a kept-alive socket.
 */

export interface HttpPostResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export type HttpPost = (url: URL, body: string, headers: Record<string, string>, timeoutMs: number) => Promise<HttpPostResult>;

export function createHttpPost(options: { maxSockets: number }): HttpPost & { destroy(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets, scheduling: 'lifo' });
  const post = (url: URL, body: string, headers: Record<string, string>, timeoutMs: number) =>
    new Promise<HttpPostResult>((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(body);
    });
  return Object.assign(post, { destroy: () => agent.destroy() });
}
