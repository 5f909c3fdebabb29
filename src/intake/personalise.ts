import type { Setup } from '../config/schema.js';
import { refusal, type Refusal } from '../core/errors.js';
import type { PersonalRecipient } from '../ledger/types.js';
import { fillMerge, type MergeTemplate } from '../message/merge.js';
import { finishSmsText, normaliseWhitespace, type SmsText, type TextPolicy, type TextWarning } from '../message/text.js';
import type { Addressee } from './groups.js';

/*
 * Mail merge per recipient: the template filled from each recipient's fields,
 * then the STOP clause and the length rules on each text, as they apply to a
 * plain mail. Identical texts are finished once (a newsletter to 10 000 with
 * only {{team}} in it has a handful of distinct texts).
 */

export type Personalised =
  | { ok: true; personal: PersonalRecipient[]; warnings: TextWarning[] }
  | { ok: false; refusal: Refusal };

interface Tally {
  /** Field → how many recipients lack it. */
  missing: Map<string, number>;
  recipientsMissing: number;
  longest: { number: string; segments: number; maxSegments: number } | undefined;
  empty: boolean;
  truncated: boolean;
}

export function personalise(
  template: MergeTemplate,
  addressees: readonly Addressee[],
  setup: Setup,
  policy: TextPolicy,
  withClauseOnce: boolean,
): Personalised {
  const finished = new Map<string, SmsText>();
  const plain = new Map<string, SmsText>();
  const { stopClause: _clause, ...noClausePolicy } = policy;
  const tally: Tally = { missing: new Map(), recipientsMissing: 0, longest: undefined, empty: false, truncated: false };
  const personal = addressees.map((addressee): PersonalRecipient => {
    const { groups } = addressee;
    if (addressee.suppress) return { groups, suppress: addressee.suppress };
    const fields = addressee.fields;
    const filled = fillMerge(template, (name) => (name === 'number' ? addressee.number : fields?.[name]), { transliterate: policy.transliterate });
    if (!filled.ok) {
      tally.recipientsMissing++;
      for (const name of filled.missing) tally.missing.set(name, (tally.missing.get(name) ?? 0) + 1);
      const detail = `${fields ? 'its contact has no' : 'no contact, so no'} ${filled.missing.join(', ')} for {{${filled.missing[0]}}}`;
      return { groups, suppress: { reason: 'merge_field_missing', detail } };
    }
    const text = normaliseWhitespace(filled.text);
    const sms = once(finished, text, () => finishSmsText(text, policy));
    if (!sms.ok) {
      if (sms.reason === 'no_text') tally.empty = true;
      else if (!tally.longest || sms.segments > tally.longest.segments) tally.longest = { number: addressee.number, segments: sms.segments, maxSegments: sms.maxSegments };
      return { groups };
    }
    if (sms.warnings.includes('truncated')) tally.truncated = true;
    const without = withClauseOnce && sms.stopClauseAppended ? once(plain, text, () => finishSmsText(text, noClausePolicy)) : undefined;
    return {
      groups,
      sms: { text: sms.text, measure: sms.measure, stopClauseAppended: sms.stopClauseAppended, ...(without?.ok ? { textNoClause: without.text } : {}) },
    };
  });
  const problem = refusalOf(tally, addressees.length, setup);
  return problem ? { ok: false, refusal: problem } : { ok: true, personal, warnings: tally.truncated ? ['truncated'] : [] };
}

function once(cache: Map<string, SmsText>, text: string, make: () => SmsText): SmsText {
  let result = cache.get(text);
  if (!result) cache.set(text, (result = make()));
  return result;
}

function refusalOf(tally: Tally, total: number, setup: Setup): Refusal | undefined {
  if (tally.recipientsMissing > 0 && setup.merge_missing === 'reject') {
    const fields = [...tally.missing].map(([name, count]) => (tally.missing.size > 1 ? `{{${name}}} (${count})` : `{{${name}}}`)).join(', ');
    const first = [...tally.missing.keys()][0] as string;
    return refusal(
      'merge_failed',
      `Merge field${tally.missing.size > 1 ? 's' : ''} ${fields} missing for ${tally.recipientsMissing} of ${total} recipients (no contact, or no value and no default); write {{${first} | default: "..."}} or set merge_missing: skip`,
    );
  }
  if (tally.empty) return refusal('no_text', 'The message has no text to send as SMS once the merge fields are filled');
  const longest = tally.longest;
  if (longest) {
    return refusal('too_long', `The longest SMS (to ${longest.number}) would be ${longest.segments} segments; this sender's limit is ${longest.maxSegments} (shorten the message)`);
  }
  return undefined;
}
