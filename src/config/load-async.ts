import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../core/paths.js';
import { ConfigError, configFromData, type Config, type ConfigData, type ConfigIssue } from './load.js';

type FromLoadThread = { ok: true; data: ConfigData } | { ok: false; message: string; issues?: ConfigIssue[]; kind?: ConfigError['kind'] };

/**
 * loadConfig in a worker thread: the main event loop only rebuilds the sender
 * index and swaps. A load that takes longer than `timeoutMs` (a file on a hung
 * network mount, say) is stopped and reported as a config error.
 */
export function loadConfigOffThread(file: string, timeoutMs = 30_000): Promise<Config> {
  // Always the compiled file: a worker thread cannot load our TypeScript source.
  const worker = new Worker(join(packageRoot(), 'dist', 'src', 'config', 'load-thread.js'), { workerData: { file } });
  return new Promise<Config>((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new ConfigError([{ file, message: `loading the config took longer than ${timeoutMs / 1000} s; stopped` }]));
    }, timeoutMs);
    const settle = () => {
      clearTimeout(timer);
      void worker.terminate();
    };
    worker.once('message', (message: FromLoadThread) => {
      settle();
      if (message.ok) resolve(configFromData(message.data));
      else reject(message.issues ? new ConfigError(message.issues, message.kind) : new Error(message.message));
    });
    worker.once('error', (error) => {
      settle();
      reject(error);
    });
  });
}
