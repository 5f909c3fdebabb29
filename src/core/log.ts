import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  destination?: DestinationStream;
  /** Where the default destination writes (stdout): the ledger thread writes to the daemon's. */
  fd?: number;
  /** Fields on every line besides svc (the ledger thread's stage). */
  bindings?: Record<string, string>;
  /** Lines kept in memory until this many bytes are there (or a flush is due): fewer, larger writes. 0 writes each at once. */
  minLength?: number;
}

/** Bytes of log lines kept waiting for a write at most; lines beyond it are dropped and counted, never block intake. */
const LOG_BUFFER_MAX = 16 * 1024 * 1024;
/** How often lines waiting under minLength are written anyway, so a quiet daemon's log is current. */
const LOG_FLUSH_MS = 200;
/** One write is at most this: whole lines within PIPE_BUF, so the ledger thread's lines never split ours on a pipe. */
const LOG_MAX_WRITE = 4096;

/**
 * One root logger per process (and one in the ledger thread); SMTP sessions
 * get children, messages get fields. Lines are written asynchronously in
 * batches (minLength) from a bounded buffer; pino writes what is left
 * synchronously when the process exits, and the CLI's fatal handlers
 * (signals, an uncaught exception) exit through that.
 * Nothing logs a config object or a secret (a test greps the logs for the
 * provider secret), so there is no redaction pass on the hot path.
 */
export function createLogger(options: LogOptions = {}): Logger {
  const destination = options.destination ?? bufferedDestination(options.fd ?? 1, options.minLength ?? 2048);
  return pino(
    {
      level: options.level ?? 'info',
      base: { svc: 'mail2sms', ...options.bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

function bufferedDestination(fd: number, minLength: number): DestinationStream {
  const stream = pino.destination({ fd, sync: false, minLength, maxLength: LOG_BUFFER_MAX, maxWrite: LOG_MAX_WRITE, periodicFlush: minLength > 0 ? LOG_FLUSH_MS : 0 });
  let dropped = 0;
  stream.on('drop', () => {
    // Said once the buffer has room again: a log that cannot keep up must not slow the mail.
    if (dropped++ === 0) stream.once('drain', () => {
      stream.write(`${JSON.stringify({ level: 40, time: new Date().toISOString(), svc: 'mail2sms', dropped, msg: 'log output could not keep up: lines dropped' })}\n`);
      dropped = 0;
    });
  });
  return stream;
}

/** The file descriptor a logger's destination writes to, if it is one (not a test's in-memory sink). */
export function logFdOf(logger: Logger): number | undefined {
  const stream = (logger as unknown as Record<symbol, { fd?: unknown } | undefined>)[pino.symbols.streamSym];
  return typeof stream?.fd === 'number' && stream.fd >= 0 ? stream.fd : undefined;
}

/** An error as one line: its message, then each cause's (a StorageError's driver error, say). */
export function causeLine(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    parts.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(': ');
}

/**
 * An expected failure (a ledger that is gone, a file this user cannot write):
 * one line with its cause at `level`, and the stack only at debug, so a burst
 * of refused mails is a burst of short lines an admin can read.
 */
export function logFailure(logger: Logger, level: 'warn' | 'error' | 'fatal', fields: Record<string, unknown>, error: unknown, msg: string): void {
  logger[level]({ ...fields, cause: causeLine(error) }, msg);
  logger.debug({ ...fields, err: error }, `${msg} (stack)`);
}

/** Writes what the logger still holds, synchronously: before a worker thread or the process ends. */
export function flushLogSync(logger: Logger): void {
  const stream = (logger as unknown as Record<symbol, { flushSync?: () => void } | undefined>)[pino.symbols.streamSym];
  try {
    stream?.flushSync?.();
  } catch {
    // A write in progress finishes on its own; nothing more can be done here.
  }
}

/**
 * Numbers are personal data: at info level we log enough to correlate
 * (country code and last two digits), not enough to identify someone.
 */
export function maskNumber(e164: string): string {
  if (e164.length <= 6) return e164.replace(/\d/g, '*');
  return e164.slice(0, 5) + '*'.repeat(e164.length - 7) + e164.slice(-2);
}

// Digits with the separators people write numbers with: +45 20 11 22 33, +45-20-11-22-33, (020) 1122.33.
const NUMBER_LIKE = /\+?\(?\d[\d \t().\-/]*\d/g;
// Number-like but not personal: IPv4 addresses and ISO dates and times, which the log needs as they are.
const NOT_A_PHONE = /^(\d{1,3}(\.\d{1,3}){3}|\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?)$/;

/**
 * Masks every phone-number-like value in a free text (for log lines that quote
 * an address or a reply), separators or not: six digits or more keep only their
 * first four (five without a +) and last two digits, as maskNumber does.
 */
export function maskNumbersIn(text: string): string {
  return text.replace(NUMBER_LIKE, (run) => {
    const digits = run.replace(/\D/g, '').length;
    if (digits < 6 || NOT_A_PHONE.test(run.trim())) return run;
    // As maskNumber: the country code and a little more, and the last two digits.
    const keep = run.startsWith('+') ? 4 : 5;
    let seen = 0;
    return run.replace(/\d/g, (digit) => (++seen <= keep || seen > digits - 2 ? digit : '*'));
  });
}
