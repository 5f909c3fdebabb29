import { angleId, isoTime, oneLine, type OutgoingMail } from './mail.js';

export type OutcomeStatus = 'queued' | 'sending' | 'sent' | 'delivered' | 'failed' | 'expired' | 'rejected' | 'unknown' | 'suppressed';

export interface ReportOutcome {
  /** E.164; shown in full: the sender wrote this number themselves. */
  recipient: string;
  status: OutcomeStatus;
  reason?: string;
  /** Epoch milliseconds of the outcome. */
  at?: number;
  /** The group(s) the mail reached the number through. */
  group?: string;
}

export interface ReportInput {
  /** The original envelope sender. */
  to: string;
  originalMessageId?: string;
  originalSubject?: string;
  queueId: string;
  setupId: string;
  /** `failures`: a report only when some recipient did not get the SMS; `all`: always. */
  mode: 'failures' | 'all';
  outcomes: ReportOutcome[];
  /** The original mail was itself one of our notifications: never answer it. */
  originalWasNotification?: boolean;
}

/** Outcomes the sender should hear about: the SMS did not (or may not) reach the number. */
const PROBLEMS: ReadonlySet<OutcomeStatus> = new Set(['failed', 'expired', 'rejected', 'unknown', 'suppressed']);

const MEANING: Record<OutcomeStatus, string> = {
  queued: 'accepted, waiting to be sent',
  sending: 'being handed to the SMS provider',
  sent: 'handed to the SMS provider, no delivery receipt yet',
  delivered: 'the provider reports it delivered to the phone',
  failed: 'could not be sent; it will not be retried',
  expired: 'the network gave up before the phone was reachable',
  rejected: 'the provider or network refused it',
  unknown: 'the provider did not answer; it may or may not have been sent (not retried, to avoid a duplicate)',
  suppressed: 'not sent by a rule (cooldown, opt-out)',
};

/** Addresses that must never get an automatic mail (RFC 3834 §2): bounces and role accounts that handle them. */
function reportable(to: string): string | undefined {
  const address = to.trim().replace(/^<(.*)>$/, '$1').trim();
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return undefined;
  const local = address.slice(0, at).toLowerCase();
  if (local === 'mailer-daemon' || local === 'postmaster') return undefined;
  return address;
}

function table(rows: ReportOutcome[]): string {
  // A Group column only when the mail went to a group: a plain mail's report looks as it always did.
  const grouped = rows.some((row) => row.group !== undefined);
  const cells = rows.map((row) => [
    row.recipient,
    ...(grouped ? [row.group ?? '-'] : []),
    row.status,
    row.at === undefined ? '-' : isoTime(row.at),
    row.reason ? oneLine(row.reason, 300) : '-',
  ]);
  const header = ['Number', ...(grouped ? ['Group'] : []), 'Outcome', 'Time (UTC)', 'Reason'];
  const padded = header.length - 1;
  // The last column is free text; padding it would only add trailing spaces.
  const widths = header.slice(0, padded).map((title, i) => Math.max(title.length, ...cells.map((cell) => (cell[i] as string).length)));
  const line = (cell: string[]) => cell.map((value, i) => (i < padded ? value.padEnd(widths[i] as number) : value)).join('  ');
  return [line(header), ...cells.map(line)].join('\n');
}

function summary(outcomes: ReportOutcome[]): string {
  const counts = new Map<OutcomeStatus, number>();
  for (const outcome of outcomes) counts.set(outcome.status, (counts.get(outcome.status) ?? 0) + 1);
  return [...counts].map(([status, count]) => `${count} ${status}`).join(', ');
}

/**
 * The delivery report for one accepted mail, or null when none should be sent.
 * Sent with a null envelope sender so that a report which cannot be delivered
 * dies there instead of bouncing back into a loop (RFC 3834 §3.3 / RFC 5321 §4.5.5).
 */
export function buildReport(input: ReportInput): OutgoingMail | null {
  if (input.originalWasNotification) return null;
  const to = reportable(input.to);
  if (!to) return null;
  const problems = input.outcomes.filter((outcome) => PROBLEMS.has(outcome.status));
  const rows = input.mode === 'all' ? input.outcomes : problems;
  if (rows.length === 0) return null;

  const subjectOf = oneLine(input.originalSubject);
  const subject = subjectOf ? `SMS report: ${subjectOf}` : `SMS report for ${input.queueId}`;
  const what = subjectOf ? `your mail "${subjectOf}"` : 'your mail';
  const shown = [...new Set(rows.map((row) => row.status))];
  const text = [
    `mail2sms: what happened to the SMS from ${what} (queue id ${input.queueId}, setup ${input.setupId}).`,
    '',
    table(rows),
    '',
    `All ${input.outcomes.length} recipient(s): ${summary(input.outcomes)}.`,
    '',
    'Outcomes:',
    ...shown.map((status) => `  ${status}: ${MEANING[status]}`),
    '',
    'This report was generated automatically.',
    '',
  ].join('\n');

  const original = angleId(input.originalMessageId);
  return {
    kind: 'report',
    to,
    fromName: 'mail2sms',
    subject,
    text,
    ...(original ? { inReplyTo: original, references: [original] } : {}),
    nullSender: true,
    autoSubmitted: 'auto-generated',
    headers: { 'X-Mail2sms-Queue-Id': input.queueId },
  };
}
