import { createHash } from 'node:crypto';
import type { Automation, FieldCondition } from '../config/automations.js';
import type { Config } from '../config/load.js';
import type { Setup } from '../config/schema.js';
import { refusal, type Refusal } from '../core/errors.js';
import { gatherRecipients } from '../intake/groups.js';
import { personalise } from '../intake/personalise.js';
import { rulesFor, textPolicyFor } from '../intake/policy.js';
import type { GroupMember, IntakeMessage, PersonalRecipient } from '../ledger/types.js';
import { measureSms } from '../message/encoding.js';
import { parseMerge } from '../message/merge.js';
import { finishSmsText, normaliseWhitespace, type TextPolicy } from '../message/text.js';
import { dateMatches, localDate } from './dates.js';

/*
 * One automation run as intake sees a group mail: the group's members on the
 * run's date, filtered by the automation's `where`, merged and measured by
 * the same functions as a mail to a group, and handed to the ledger as an
 * IntakeMessage. Pure: the members come from the caller.
 */

/** The setup as the automation uses it: its own cooldown, sending window and country where it sets them. */
export function automationSetup(automation: Automation, setup: Setup): Setup {
  return {
    ...setup,
    ...(automation.cooldown !== undefined ? { cooldown: automation.cooldown } : {}),
    ...(automation.sending_window ? { sending_window: automation.sending_window } : {}),
    ...(automation.default_country ? { default_country: automation.default_country as Setup['default_country'] } : {}),
  };
}

const same = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();

function meets(value: string | undefined, condition: FieldCondition, runDate: string): boolean {
  if (value === undefined) return false;
  if (condition.kind === 'equals') return condition.values.some((wanted) => same(value, wanted));
  return dateMatches(value, condition.date, runDate);
}

/** The members every `where` condition holds for, on the run's date in the automation's zone. */
export function selectMembers(automation: Automation, members: readonly GroupMember[], scheduledAt: number): GroupMember[] {
  const where = Object.entries(automation.recipients.where ?? {});
  if (where.length === 0) return [...members];
  const runDate = localDate(scheduledAt, automation.schedule.timezone);
  return members.filter((member) => where.every(([field, condition]) => meets(member.fields[field], condition, runDate)));
}

export type RunPlan = { ok: true; setup: Setup; message: IntakeMessage } | { ok: false; refusal: Refusal };

/** The run's message: who, with which text, under which rules. A refusal (merge_missing: reject, too long) sends nothing. */
export function planRun(config: Config, automation: Automation, members: readonly GroupMember[], scheduledAt: number, now: number): RunPlan {
  const base = config.setups.find((s) => s.id === automation.setup);
  if (!base) return { ok: false, refusal: refusal('unknown_sender', `automation ${automation.id}: no setup "${automation.setup}"`) };
  const setup = automationSetup(automation, base);
  const group = { name: automation.recipients.group, members: selectMembers(automation, members, scheduledAt) };
  const addressees = gatherRecipients(setup, [], [group], undefined);
  const policy = textPolicyFor(setup, config.main.consent.stop_clause);
  const text = normaliseWhitespace(automation.text);
  const body = personalTexts(config, setup, policy, text, addressees);
  if ('refusal' in body) return { ok: false, refusal: body.refusal };
  const occurrence = new Date(scheduledAt).toISOString();
  const message: IntakeMessage = {
    setupId: setup.id,
    senderName: setup.sender_name,
    // No email sender: no delivery report, and a reply to it is not forwarded to anyone.
    mailFrom: '',
    headerMessageId: undefined,
    bodyHash: createHash('sha256').update(`automation\0${automation.id}\0${scheduledAt}`).digest('hex'),
    clientIp: undefined,
    sessionRef: `automation:${automation.id}@${occurrence}`,
    text: body.text,
    measure: body.measure,
    recipients: addressees.map((a) => a.number),
    rules: rulesFor(config, setup),
    stopClauseAppended: body.stopClauseAppended,
    ...(body.stopClauseOnce ? { stopClauseOnce: body.stopClauseOnce } : {}),
    personal: body.personal,
    subject: automation.title,
    ...(setup.max_age !== null ? { expiresAt: now + setup.max_age } : {}),
    ...(setup.sending_window ? { sendingWindow: setup.sending_window } : {}),
    onUnknown: setup.on_unknown ?? (setup.category === 'marketing' ? 'fail' : 'retry'),
  };
  return { ok: true, setup, message };
}

interface Body {
  text: string;
  measure: IntakeMessage['measure'];
  stopClauseAppended: boolean;
  stopClauseOnce?: { periodMs: number; text: string };
  personal: PersonalRecipient[];
}

/** As a group mail's text (intake/decide.ts): with merge fields each recipient's own, else one for all. */
function personalTexts(config: Config, setup: Setup, policy: TextPolicy, text: string, addressees: ReturnType<typeof gatherRecipients>): Body | { refusal: Refusal } {
  const oncePer = config.main.consent.stop_clause.once_per;
  const merge = parseMerge(text);
  if (!merge.ok) return { refusal: refusal('merge_failed', `Merge fields: ${merge.problem}`) };
  if (merge.template) {
    const filled = personalise(merge.template, addressees, setup, policy, oncePer !== null);
    if (!filled.ok) return { refusal: filled.refusal };
    const anyClause = filled.personal.some((p) => p.sms?.stopClauseAppended);
    return {
      text, measure: measureSms(text), stopClauseAppended: false, personal: filled.personal,
      ...(anyClause && oncePer !== null ? { stopClauseOnce: { periodMs: oncePer, text } } : {}),
    };
  }
  const sms = finishSmsText(text, policy);
  if (!sms.ok) {
    return { refusal: sms.reason === 'no_text' ? refusal('no_text', 'The automation has no text to send') : refusal('too_long', `The SMS would be ${sms.segments} segments; the setup's limit is ${sms.maxSegments}`) };
  }
  const { stopClause: _clause, ...withoutClause } = policy;
  const plain = sms.stopClauseAppended && oncePer !== null ? finishSmsText(text, withoutClause) : undefined;
  return {
    text: sms.text, measure: sms.measure, stopClauseAppended: sms.stopClauseAppended,
    ...(plain?.ok ? { stopClauseOnce: { periodMs: oncePer as number, text: plain.text } } : {}),
    personal: addressees.map((a): PersonalRecipient => ({ groups: a.groups, ...(a.suppress ? { suppress: a.suppress } : {}) })),
  };
}
