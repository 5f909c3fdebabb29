import type { Config } from '../config/load.js';
import { ALL_GROUP, GROUP_NAME, type Setup } from '../config/schema.js';
import { refusal, type Refusal } from '../core/errors.js';
import type { GroupMember, GroupSelector, IntakeSuppression } from '../ledger/types.js';
import { parseRecipientNumber } from '../numbers/parse.js';

/*
 * Group addresses (board@sms.example.test): which group a local part names,
 * whether the setup may address it, how large it may be, and who the mail
 * then goes to. The members themselves come from the ledger (a contact store
 * call by SMTP, a read by explain); everything here is a pure function.
 */

export type GroupVerdict = { ok: true; name: string; selector: GroupSelector } | { ok: false; refusal: Refusal };

/** A group the main config declares (or `all`) as the contact store resolves it. */
export function groupSelector(config: Config, name: string): GroupSelector | undefined {
  if (name === ALL_GROUP) return { kind: 'all' };
  if (!Object.hasOwn(config.main.groups, name)) return undefined;
  const where = config.main.groups[name]?.where;
  return where ? { kind: 'where', where } : { kind: 'fixed', name };
}

/**
 * Whether a local part is meant as a group: it has the shape of a group name
 * and the config knows groups. Without any group declared, a name such as
 * "not-a-number" keeps today's answer (not a phone number), unless it is `all`.
 */
export function looksLikeGroup(config: Config, local: string): boolean {
  const name = local.toLowerCase();
  if (!GROUP_NAME.test(name)) return false;
  return name === ALL_GROUP || Object.keys(config.main.groups).length > 0;
}

/** RCPT TO of a group address: the group exists and this setup may address it. */
export function checkGroupAddress(config: Config, setup: Setup, local: string): GroupVerdict {
  const name = local.toLowerCase();
  const selector = groupSelector(config, name);
  const allowed = setup.groups;
  if (!selector) {
    const hint = allowed.length > 0 ? `; this sender may address ${allowed.join(', ')}` : '';
    return { ok: false, refusal: refusal('unknown_group', `No group "${name}" here${hint}`) };
  }
  if (!allowed.includes(name)) {
    return { ok: false, refusal: refusal('group_not_allowed', `Group "${name}" may not be addressed by this sender (setup ${setup.id} lists ${allowed.length ? allowed.join(', ') : 'no groups'})`) };
  }
  return { ok: true, name, selector };
}

/** A group over the setup's max_group_size is refused whole, with both sizes named. */
export function checkGroupSize(setup: Setup, name: string, members: readonly GroupMember[]): Refusal | undefined {
  const size = new Set(members.map((m) => m.number)).size;
  if (size <= setup.max_group_size) return undefined;
  return refusal('group_too_large', `Group "${name}" has ${size} members; this sender may address groups of at most ${setup.max_group_size} (max_group_size)`);
}

export interface ResolvedGroup {
  name: string;
  members: readonly GroupMember[];
}

/** One recipient of the mail, however it was reached. */
export interface Addressee {
  number: string;
  /** The groups that reached the number, in the order given. */
  groups: string[];
  /** Merge fields of its contact; undefined when the number has none. */
  fields: Readonly<Record<string, string>> | undefined;
  suppress?: { reason: IntakeSuppression; detail: string };
}

/**
 * Direct numbers first, then each group's members; a number reached several
 * ways (two groups, a parent of two children, also in To) is one recipient.
 * Its merge fields are its own contact's when addressed directly, else those
 * of the first member with that number.
 */
export function gatherRecipients(
  setup: Setup,
  numbers: readonly string[],
  groups: readonly ResolvedGroup[],
  contacts: ReadonlyMap<string, Readonly<Record<string, string>>> | undefined,
): Addressee[] {
  const byNumber = new Map<string, Addressee>();
  for (const number of numbers) byNumber.set(number, { number, groups: [], fields: contacts?.get(number) });
  for (const group of groups) {
    for (const member of group.members) {
      const known = byNumber.get(member.number);
      if (known) {
        if (!known.groups.includes(group.name)) known.groups.push(group.name);
        known.fields ??= member.fields;
        continue;
      }
      const addressee: Addressee = { number: member.number, groups: [group.name], fields: member.fields };
      const outside = outsideCountries(setup, member.number);
      if (outside) addressee.suppress = { reason: 'country_not_allowed', detail: outside };
      byNumber.set(member.number, addressee);
    }
  }
  return [...byNumber.values()];
}

/** A member's number outside the setup's allowed_countries (a direct number is refused at RCPT TO instead). */
function outsideCountries(setup: Setup, number: string): string | undefined {
  if (!setup.allowed_countries) return undefined;
  const parsed = parseRecipientNumber(number, setup.default_country);
  const country = parsed.ok ? parsed.country : undefined;
  if (country && setup.allowed_countries.includes(country)) return undefined;
  return `${number} is in ${country ?? 'no single country'}; this sender may only send to ${setup.allowed_countries.join(', ')}`;
}
