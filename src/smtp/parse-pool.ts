import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../core/paths.js';
import type { BoundedParse, ParseLimits } from '../message/parse-within-limits.js';
import type { ParseRequest } from './parse-thread.js';

interface Job {
  request: ParseRequest;
  timeoutMs: number;
  resolve(result: BoundedParse): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
  timer: NodeJS.Timeout | undefined;
}

export interface ParsePool {
  /** Parses a mail in a worker; over `timeoutMs` the worker is replaced and the mail refused. */
  parse(raw: Buffer, limits: ParseLimits, timeoutMs: number): Promise<BoundedParse>;
  close(): Promise<void>;
}

/**
 * A few worker threads (started when first needed) that parse MIME mail off
 * the SMTP event loop, one mail each at a time; a mail that takes longer than its budget has its worker
 * terminated (the only way to stop a runaway parse) and a fresh one started.
 */
export function createParsePool(size: number): ParsePool {
  // Always the compiled file: a worker thread cannot load our TypeScript source.
  const script = join(packageRoot(), 'dist', 'src', 'smtp', 'parse-thread.js');
  const queue: Job[] = [];
  const slots: Slot[] = [];
  let closed = false;

  function spawn(): Slot {
    const slot: Slot = { worker: new Worker(script, { resourceLimits: { maxOldGenerationSizeMb: 256 } }), job: undefined, timer: undefined };
    slot.worker.unref();
    slot.worker.on('message', (message: { result?: BoundedParse; error?: string }) => {
      const job = finish(slot);
      if (!job) return;
      if (message.result) job.resolve(message.result);
      else job.reject(new Error(`parse failed: ${message.error ?? 'unknown error'}`));
      next();
    });
    slot.worker.on('error', (error) => replace(slot, (job) => job.reject(error)));
    return slot;
  }

  function finish(slot: Slot): Job | undefined {
    const job = slot.job;
    clearTimeout(slot.timer);
    slot.job = undefined;
    slot.timer = undefined;
    return job;
  }

  function replace(slot: Slot, settle: (job: Job) => void): void {
    const job = finish(slot);
    void slot.worker.terminate();
    const index = slots.indexOf(slot);
    if (index !== -1 && !closed) slots[index] = spawn();
    if (job) settle(job);
    next();
  }

  function next(): void {
    // Workers start when first needed: most mail takes the fast path and never needs one.
    const idle = slots.filter((slot) => !slot.job).length;
    for (let i = idle; i < queue.length && slots.length < size && !closed; i++) slots.push(spawn());
    for (const slot of slots) {
      if (slot.job || queue.length === 0) continue;
      const job = queue.shift() as Job;
      slot.job = job;
      slot.timer = setTimeout(() => {
        replace(slot, (timedOut) => timedOut.resolve({ ok: false, code: 'content_limit', reason: `parsing took longer than ${timedOut.timeoutMs / 1000} s` }));
      }, job.timeoutMs);
      slot.worker.postMessage(job.request);
    }
  }

  return {
    parse(raw, limits, timeoutMs) {
      if (closed) return Promise.reject(new Error('parse pool closed'));
      return new Promise((resolve, reject) => {
        queue.push({ request: { raw, limits }, timeoutMs, resolve, reject });
        next();
      });
    },
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error('parse pool closed'));
      await Promise.all(slots.map((slot) => slot.worker.terminate()));
    },
  };
}
