import { compileSendingWindow, type CompiledWindow, type SendingWindow } from '../core/sending-window.js';
import type { ClaimCandidate, ClaimDecision, ClaimPolicy } from '../ledger/types.js';

/*
 * Dispatch's rules for a row it is about to send, applied by the ledger
 * inside the claim's transaction (so a row is never both claimed and expired).
 * The organisation's rules (opt-out, consent, caps, cooldown) are checked
 * again after these, by the ledger itself.
 */

/** max_age: a row not sent by its expiry ends `expired`. */
export function expiryRule(candidate: ClaimCandidate, now: number): ClaimDecision | undefined {
  if (candidate.expiresAt === null || now < candidate.expiresAt) return undefined;
  return { action: 'expire', reason: `max_age: not sent by ${new Date(candidate.expiresAt).toISOString()}` };
}

/** The setup's sending window: outside it, the row waits for the next opening (or its expiry, if that comes first). */
export function windowRule(window: CompiledWindow, candidate: ClaimCandidate, now: number): ClaimDecision | undefined {
  if (window.isOpen(now)) return undefined;
  const opening = window.nextOpening(now);
  // An SMS that would expire before the window opens is retried at its expiry, and expires then.
  const until = candidate.expiresAt !== null ? Math.min(opening, candidate.expiresAt) : opening;
  return { action: 'defer', until, reason: `outside the sending window; next opening ${new Date(opening).toISOString()}` };
}

/** The claim policy: expiry first, then the window; compiled windows are cached by their stored JSON. */
export function createClaimPolicy(): ClaimPolicy {
  const windows = new Map<string, CompiledWindow>();
  function windowOf(json: string): CompiledWindow {
    let compiled = windows.get(json);
    if (!compiled) {
      compiled = compileSendingWindow(JSON.parse(json) as SendingWindow);
      if (windows.size > 1000) windows.clear();
      windows.set(json, compiled);
    }
    return compiled;
  }
  return (candidate, now) =>
    expiryRule(candidate, now) ??
    (candidate.sendingWindow !== null ? windowRule(windowOf(candidate.sendingWindow), candidate, now) : undefined) ?? { action: 'send' };
}
