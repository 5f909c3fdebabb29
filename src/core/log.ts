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
