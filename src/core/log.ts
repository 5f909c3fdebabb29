import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  destination?: DestinationStream;
}

/**
 * One root logger per process; stages and sessions get children with their ids.
 * Nothing logs a config object or a secret (a test greps the logs for the
 * provider secret), so there is no redaction pass on the hot path.
 */
export function createLogger(options: LogOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { svc: 'mail2sms' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/**
 * Numbers are personal data: at info level we log enough to correlate
 * (country code and last two digits), not enough to identify someone.
 */
export function maskNumber(e164: string): string {
  if (e164.length <= 6) return e164.replace(/\d/g, '*');
  return e164.slice(0, 5) + '*'.repeat(e164.length - 7) + e164.slice(-2);
}

/** Masks every phone-number-like run of digits in a free text (for log lines that quote a reply). */
export function maskNumbersIn(text: string): string {
  return text.replace(/\+?\d{6,}/g, (digits) => maskNumber(digits));
}
