import type { SMTPServerSession } from 'smtp-server';
import type { Config } from '../config/load.js';
import type { SenderMatch } from '../config/match.js';
import type { Refusal } from '../core/errors.js';
import { maskNumbersIn, type Logger } from '../core/log.js';
import type { Metrics } from '../core/metrics.js';
import type { GroupMember } from '../ledger/types.js';
import { normaliseIp } from '../intake/policy.js';
import { replyError, type SmtpReplyError } from './replies.js';

/** One MAIL FROM … DATA. */
export interface Transaction {
  number: number;
  /** undefined for the null sender <>. */
  sender: SenderMatch | undefined;
  mailFrom: string;
  numbers: Map<string, string>; // E.164 → address as given
  /** Group addresses accepted so far, with their members as resolved at RCPT TO. */
  groups: Map<string, readonly GroupMember[]>;
  addresses: Set<string>;
  postmaster: boolean;
  /**
   * A sender no setup claims: only postmaster takes its mail (RFC 5321 §4.5.1; abuse
   * desks are in no setup), and every SMS recipient gets this refusal at RCPT TO.
   */
  outsider?: Refusal;
}

export interface SessionState {
  /** The config the session started with: a reload never changes it halfway. */
  config: Config;
  log: Logger;
  transactions: number;
  txn: Transaction | undefined;
}

/**
 * Per-connection state, keyed by smtp-server's session id, with the
 * reference (session.N) every reply and log line of a transaction carries.
 */
export function createSessions(deps: { getConfig(): Config; logger: Logger; metrics: Metrics }) {
  const sessions = new Map<string, SessionState>();

  function stateOf(session: SMTPServerSession): SessionState {
    let state = sessions.get(session.id);
    if (!state) {
      state = {
        config: deps.getConfig(),
        log: deps.logger.child({ session: session.id, ip: normaliseIp(session.remoteAddress) }),
        transactions: 0,
        txn: undefined,
      };
      sessions.set(session.id, state);
    }
    return state;
  }

  function refOf(session: SMTPServerSession): string {
    const state = stateOf(session);
    return `${session.id}.${state.txn?.number ?? state.transactions}`;
  }

  /** Logs the refusal (numbers masked) and turns it into the reply smtp-server sends. */
  function refuse(session: SMTPServerSession, why: Refusal, extra: Record<string, unknown> = {}): SmtpReplyError {
    const ref = refOf(session);
    const fields = Object.fromEntries(Object.entries(extra).map(([key, value]) => [key, typeof value === 'string' ? maskNumbersIn(value) : value]));
    stateOf(session).log.info({ ref, refusal: why.code, ...fields }, maskNumbersIn(why.detail));
    deps.metrics.inc('mail2sms_smtp_refusals_total', { reason: why.code });
    return replyError(why, ref);
  }

  return { stateOf, refOf, refuse, forget: (session: SMTPServerSession) => void sessions.delete(session.id) };
}

export type Sessions = ReturnType<typeof createSessions>;
