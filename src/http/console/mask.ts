import { maskNumber, maskNumbersIn } from '../../core/log.js';

/*
 * What a console reader may see. With the console:pii scope everything is
 * shown; without it numbers are masked (+4520****56) and SMS texts, subjects
 * and quoted texts inside reasons, summaries and evidence are hidden.
 */

export const HIDDEN = '[hidden: needs the console:pii scope]';

export interface View {
  readonly pii: boolean;
  /** A phone number (E.164). */
  number(e164: string): string;
  /** An SMS text, subject or inbound text: undefined when it may not be shown. */
  text(value: string | null): string | null | undefined;
  /** Free text built from data (reasons, event details, history summaries, evidence). */
  free(value: string): string;
  free(value: string | null): string | null;
}

/**
 * Hides everything from the first to the last double quote (the texts these
 * fields quote may themselves hold quotes, so the widest span is the safe
 * one), then masks every number-like run of digits.
 */
export function redact(value: string): string {
  return maskNumbersIn(value.replace(/"[\s\S]*"/, '"[hidden]"'));
}

export function createView(pii: boolean): View {
  if (pii) {
    return {
      pii,
      number: (e164) => e164,
      text: (value) => value,
      free: ((value: string | null) => value) as View['free'],
    };
  }
  return {
    pii,
    number: (e164) => maskNumber(e164),
    text: () => undefined,
    free: ((value: string | null) => (value === null ? null : redact(value))) as View['free'],
  };
}
