import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { urlToHttpOptions } from 'node:url';

/*
 * A small JSON-over-HTTP client on node:http(s) with keep-alive agents. We call
 * the provider thousands of times a second; fetch's per-call cost (web streams,
 * AbortSignal) was several times that of a plain request on a kept-alive socket.
 */

export interface HttpPostResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A failed call. `requestSent` says whether the whole request had been handed
 * to the socket: a timeout after that means the provider may have acted on it.
 */
export interface HttpCallError extends Error {
  code?: string;
  requestSent: boolean;
}

export type HttpRequest = (
  method: string,
  url: URL,
  body: string | undefined,
  headers: Record<string, string>,
  timeoutMs: number,
) => Promise<HttpPostResult>;

export type HttpPost = (url: URL, body: string, headers: Record<string, string>, timeoutMs: number) => Promise<HttpPostResult>;

/** Answers larger than this are cut off: a provider's reply to one SMS is small. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export function createHttpClient(options: { maxSockets: number }): { request: HttpRequest; destroy(): void } {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, scheduling: 'lifo' as const };
  const httpAgent = new HttpAgent(agentOptions);
  let httpsAgent: HttpsAgent | undefined; // only made when an https URL is used
  // A provider's URL is one object used for every call: its request options are worked out once, not per call.
  const targets = new WeakMap<URL, ReturnType<typeof urlToHttpOptions>>();
  const targetOf = (url: URL) => {
    let target = targets.get(url);
    if (!target) targets.set(url, (target = urlToHttpOptions(url)));
    return target;
  };

  const request: HttpRequest = (method, url, body, headers, timeoutMs) =>
    new Promise<HttpPostResult>((resolve, reject) => {
      let sent = false;
      const fail = (error: Error & { code?: string }) => reject(Object.assign(error, { requestSent: sent }) as HttpCallError);
      const onResponse = (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(Object.assign(new Error(`answer over ${MAX_RESPONSE_BYTES} bytes`), { code: 'ERESPONSETOOLARGE' }));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', fail);
      };
      // Object.assign, not a leading spread: in V8 (Node 20) `{ ...a, b }` makes a hidden class per object (~4 µs).
      const requestHeaders: Record<string, string | number> = Object.assign({}, headers);
      if (body !== undefined) {
        requestHeaders['content-type'] ??= 'application/json';
        requestHeaders['content-length'] = Buffer.byteLength(body);
      }
      const target = targetOf(url);
      const https = url.protocol === 'https:';
      const agent = https ? (httpsAgent ??= new HttpsAgent(agentOptions)) : httpAgent;
      const requestOptions = Object.assign({ method, agent, headers: requestHeaders, timeout: timeoutMs }, target);
      const req: ClientRequest = https ? httpsRequest(requestOptions, onResponse) : httpRequest(requestOptions, onResponse);
      // 'finish': the last byte of the request went to the socket.
      req.on('finish', () => {
        sent = true;
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', fail);
      req.end(body);
    });

  return {
    request,
    destroy() {
      httpAgent.destroy();
      httpsAgent?.destroy();
    },
  };
}

/** POST with a JSON body (what the simulator needs for receipts and inbound webhooks). */
export function createHttpPost(options: { maxSockets: number }): HttpPost & { destroy(): void } {
  const client = createHttpClient(options);
  const post: HttpPost = (url, body, headers, timeoutMs) => client.request('POST', url, body, headers, timeoutMs);
  return Object.assign(post, { destroy: () => client.destroy() });
}
