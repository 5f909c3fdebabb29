import { parentPort } from 'node:worker_threads';
import { parseEmailBounded, type ParseLimits } from '../message/parse-within-limits.js';

/*
 * A parse worker: MIME parsing and HTML conversion of one mail at a time, so
 * a hostile mail costs this thread's time, not the SMTP event loop's.
 */

export interface ParseRequest {
  raw: Uint8Array;
  limits: ParseLimits;
}

parentPort?.on('message', (request: ParseRequest) => {
  parseEmailBounded(Buffer.from(request.raw.buffer, request.raw.byteOffset, request.raw.byteLength), request.limits).then(
    (result) => parentPort?.postMessage({ result }),
    (error: unknown) => parentPort?.postMessage({ error: error instanceof Error ? error.message : String(error) }),
  );
});
