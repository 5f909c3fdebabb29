import type { ReceiptStatus } from '../../ledger/types.js';

/*
 * What Kannel's delivery reports mean in our words. Data, so the docs print
 * the same table the code uses (docs/providers/kannel.md).
 */

/** Our status for a report: a settled one, or `sent` (on its way: acknowledged, settles nothing). */
export type KannelOutcome = ReceiptStatus | 'sent';

export interface KannelDlrType {
  /** The bit Kannel puts in `%d` (and that `dlr-mask` selects). */
  bit: number;
  /** Kannel's name for it. */
  kannel: string;
  ours: KannelOutcome;
  meaning: string;
}

/**
 * Kannel's DLR types, in the order a combined value (some SMSC drivers report
 * e.g. 9 = 8|1) is read: the most final bit wins.
 */
export const KANNEL_DLR_TYPES: readonly KannelDlrType[] = [
  { bit: 1, kannel: 'delivery success', ours: 'delivered', meaning: 'The handset has it.' },
  { bit: 2, kannel: 'delivery failure', ours: 'failed', meaning: 'The SMSC gave up on the handset (the SMPP stat: may say EXPIRED, see below).' },
  { bit: 16, kannel: 'SMSC reject', ours: 'rejected', meaning: 'The SMSC refused the SMS (invalid number, barred, no credit…).' },
  { bit: 8, kannel: 'SMSC submit', ours: 'sent', meaning: 'The SMSC accepted it; a final report follows.' },
  { bit: 4, kannel: 'buffered', ours: 'sent', meaning: 'Kannel or the SMSC queued it for later; a final report follows.' },
];

/**
 * The SMPP receipt's `stat:` (in Kannel's `%A`, the SMSC's own answer) refines a
 * failure: an expired SMS is `expired`, a refused one `rejected`.
 */
export const SMPP_FINAL_STATES: Readonly<Record<string, ReceiptStatus>> = {
  DELIVRD: 'delivered',
  EXPIRED: 'expired',
  REJECTD: 'rejected',
  UNDELIV: 'failed',
  DELETED: 'failed',
  UNKNOWN: 'failed',
};

/** Our outcome for Kannel's `%d` (and the SMSC's answer text), or undefined for a value with no known bit. */
export function outcomeOfDlr(type: number, answer: string): KannelOutcome | undefined {
  const found = KANNEL_DLR_TYPES.find((entry) => (type & entry.bit) !== 0);
  if (!found) return undefined;
  if (found.ours === 'failed' || found.ours === 'rejected') {
    const stat = /\bstat:([A-Z]+)/.exec(answer)?.[1];
    const refined = stat !== undefined && Object.hasOwn(SMPP_FINAL_STATES, stat) ? SMPP_FINAL_STATES[stat] : undefined;
    if (refined && refined !== 'delivered') return refined;
  }
  return found.ours;
}

/** The SMSC's error code in an SMPP receipt text (`err:123`), when there is one other than none. */
export function errorCodeOfAnswer(answer: string): string | undefined {
  const code = /\berr:([0-9A-Za-z]+)/.exec(answer)?.[1];
  return code !== undefined && !/^0+$/.test(code) ? code : undefined;
}
