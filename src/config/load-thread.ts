import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, configData, loadConfig } from './load.js';

/*
 * Loads (reads, parses, validates) a config in a worker thread, so a reload
 * of a large setup does not stall SMTP sessions on the main event loop.
 */

const { file } = workerData as { file: string };
try {
  parentPort?.postMessage({ ok: true, data: configData(loadConfig(file)) });
} catch (error) {
  const issues = error instanceof ConfigError ? error.issues : undefined;
  const kind = error instanceof ConfigError ? error.kind : undefined;
  parentPort?.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error), issues, kind });
}
