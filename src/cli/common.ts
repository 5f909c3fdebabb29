import { Option } from 'commander';
import { ConfigError, loadConfig, type Config } from '../config/load.js';
import { EXIT } from './exit.js';

export const DEFAULT_CONFIG = 'config/mail2sms.yaml';

/** A failure the user caused or can fix: printed as one line, with its exit code. */
export class CliFailure extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

/** The config (or, with `read`, just the part a command needs), with config errors as a CliFailure (exit 78). */
export function load(path: string): Config;
export function load<T>(path: string, read: (path: string) => T): T;
export function load(path: string, read: (path: string) => unknown = loadConfig): unknown {
  try {
    return read(path);
  } catch (error) {
    if (error instanceof ConfigError && error.kind === 'unreadable') {
      throw new CliFailure(`${error.message}; give the main config file with -c <file> or $MAIL2SMS_CONFIG`, EXIT.config);
    }
    if (error instanceof ConfigError) throw new CliFailure(`invalid configuration:\n${error.message}`, EXIT.config);
    throw error;
  }
}

/** `-c` wins, then $MAIL2SMS_CONFIG (production: /etc/mail2sms/mail2sms.yaml, set once for the service and the admin's shell), then the example. */
export const configOption = () => new Option('-c, --config <file>', 'main config file').env('MAIL2SMS_CONFIG').default(DEFAULT_CONFIG);
