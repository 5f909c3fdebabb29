import { resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { parseListen, type ListenAddress } from '../core/units.js';
import { ConfigError, displayPath } from './load.js';
import { ConfigFileError, readConfigFile } from './read-file.js';

/*
 * `mail2sms health` asks the running daemon, which holds the config it
 * validated; it needs only where the daemon listens. Reading nothing else
 * (no setups, no schema) keeps a setup file that is mid-edit, or a key the
 * daemon has not reloaded yet, from making a healthy daemon look broken.
 */

/** http.listen from the main config file, and nothing else; ConfigError when it cannot be found. */
export function readHttpListen(mainFile: string): ListenAddress {
  const file = resolve(mainFile);
  const shown = displayPath(file);
  let text: string;
  try {
    text = readConfigFile(file).toString('utf8');
  } catch (error) {
    const message = error instanceof ConfigFileError ? error.message : `cannot read: ${String(error)}`;
    throw new ConfigError([{ file: shown, message }], 'unreadable');
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const value: unknown = doc.getIn(['http', 'listen']);
  const listen = typeof value === 'string' ? parseListen(value) : undefined;
  if (listen) return listen;
  const firstError = doc.errors[0];
  const where = firstError ? { line: lineCounter.linePos(firstError.pos[0]).line } : {};
  const why = firstError ? `cannot be read here: YAML syntax: ${firstError.message.split('\n')[0]}` : value === undefined ? 'is not set' : `"${String(value)}" is not a listen address (host:port)`;
  throw new ConfigError([{ file: shown, ...where, field: 'http.listen', message: `${why}; health needs it to reach the daemon` }]);
}
