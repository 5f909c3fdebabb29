import type { Automation } from '../config/automations.js';
import type { Config } from '../config/load.js';
import { ALL_GROUP } from '../config/schema.js';
import type { Refusal } from '../core/errors.js';
import { groupSelector } from '../intake/groups.js';
import type { AutomationRunBy, Ledger, RuleVerdict, StartRunOutcome } from '../ledger/types.js';
import { planRun } from './plan.js';

/*
 * One occurrence of an automation, started or previewed: the runner and the
 * CLI (`automations run`, `automations preview`) both come through here, so a
 * preview lists exactly what the run would decide.
 */

export type OccurrenceLedger = Pick<Ledger, 'groupMembers' | 'startRun' | 'recordMissed' | 'checkRecipient'>;

export type OccurrenceOutcome = StartRunOutcome | { outcome: 'refused'; refusal: Refusal; recorded: boolean };

async function plan(ledger: OccurrenceLedger, config: Config, automation: Automation, scheduledAt: number, now: number) {
  const group = automation.recipients.group;
  const selector = groupSelector(config, group) ?? (group === ALL_GROUP ? { kind: 'all' as const } : undefined);
  // The config check makes the group exist; a reload that removed it is caught there, not here.
  const members = selector ? await ledger.groupMembers(selector) : [];
  return planRun(config, automation, members, scheduledAt, now);
}

/**
 * Starts the run for one occurrence: written once under its key with every
 * recipient decided by the ledger. A text that cannot go (merge_missing:
 * reject, too long) is recorded as a missed run naming why, so it is neither
 * silent nor tried again on every tick.
 */
export async function startOccurrence(
  ledger: OccurrenceLedger, config: Config, automation: Automation, scheduledAt: number, runBy: AutomationRunBy, now: number,
): Promise<OccurrenceOutcome> {
  const planned = await plan(ledger, config, automation, scheduledAt, now);
  if (!planned.ok) {
    const recorded = await ledger.recordMissed(automation.id, [scheduledAt], `not sent: ${planned.refusal.detail}`);
    return { outcome: 'refused', refusal: planned.refusal, recorded: recorded.length > 0 };
  }
  return ledger.startRun({ automationId: automation.id, scheduledAt, runBy }, planned.message);
}

export interface PreviewRow {
  number: string;
  verdict: 'would send' | 'suppressed';
  reason?: string;
  detail?: string;
  text: string;
}

/** Who would get what, each with the ledger's verdict now; writes nothing. */
export async function previewOccurrence(
  ledger: OccurrenceLedger, config: Config, automation: Automation, scheduledAt: number, now: number,
): Promise<{ ok: true; rows: PreviewRow[] } | { ok: false; refusal: Refusal }> {
  const planned = await plan(ledger, config, automation, scheduledAt, now);
  if (!planned.ok) return planned;
  const { message } = planned;
  const rows: PreviewRow[] = [];
  for (const [i, number] of message.recipients.entries()) {
    const personal = message.personal?.[i];
    const text = personal?.sms?.text ?? message.text;
    if (personal?.suppress) {
      rows.push({ number, verdict: 'suppressed', reason: personal.suppress.reason, detail: personal.suppress.detail, text });
      continue;
    }
    const verdict: RuleVerdict = await ledger.checkRecipient(number, message.rules);
    rows.push(verdict.allowed ? { number, verdict: 'would send', text } : { number, verdict: 'suppressed', reason: verdict.reason, detail: verdict.detail, text });
  }
  return { ok: true, rows };
}
