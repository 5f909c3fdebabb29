import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import { refusal, StorageError } from '../core/errors.js';
import { logFailure, maskNumber, type Logger } from '../core/log.js';
import { suppressionText } from '../intake/decide.js';
import { checkRecipient, checkSender, normaliseIp, rulesFor } from '../intake/policy.js';
import type { GroupMember, GroupSelector, Ledger } from '../ledger/types.js';
import type { Setup } from '../config/schema.js';
import { checkGroupSize } from '../intake/groups.js';
import { checkSpf, type DnsResolver } from './sender-auth.js';
import { SENDER_AUTH_TIMEOUT_MS } from './data.js';
import type { Sessions, Transaction } from './session.js';
import { createRateCounter } from '../core/rate-counter.js';

type Done = (error?: Error | null) => void;

/**
 * MAIL FROM and RCPT TO: the intake policy (intake/policy.ts) plus what needs
 * the network or the ledger (SPF, the reject-mode rule check). Every refusal
 * goes through sessions.refuse, so it is logged and counted once.
 */
export function createEnvelopeHandlers(deps: { sessions: Sessions; ledger: Pick<Ledger, 'checkRecipient' | 'groupMembers'>; resolver?: DnsResolver }) {
  const { sessions } = deps;
  // Mails for postmaster from outsiders per client address in the current hour: each forward costs the relay and the admin's inbox.
  const postmasterMails = createRateCounter(3_600_000);
  const postmasterAllowed = (perHour: number, ip: string) => postmasterMails.hit(ip, Date.now()) <= perHour;

  function onMailFrom(address: SMTPServerAddress, session: SMTPServerSession, callback: Done): void {
    const state = sessions.stateOf(session);
    state.transactions++;
    const mailFrom = address.address.toLowerCase();
    const txn: Transaction = { number: state.transactions, sender: undefined, mailFrom, numbers: new Map(), groups: new Map(), addresses: new Set(), postmaster: false };
    state.txn = txn;
    if (mailFrom === '') return callback();
    const declared = Number(address.args && typeof address.args === 'object' ? (address.args as Record<string, string>).SIZE : NaN);
    const limit = state.config.main.smtp.max_message_size;
    if (declared > limit) return callback(sessions.refuse(session, refusal('message_too_large', `Message size ${declared} exceeds the limit of ${limit} bytes`)));
    const verdict = checkSender(state.config, mailFrom, session.remoteAddress, typeof session.user === 'string' ? session.user : undefined);
    if (!verdict.ok && verdict.refusal.code === 'unknown_sender') {
      txn.outsider = verdict.refusal;
      return callback();
    }
    if (!verdict.ok) return callback(sessions.refuse(session, verdict.refusal, { from: mailFrom }));
    const accept = () => {
      txn.sender = verdict.match;
      state.log.debug({ from: mailFrom, setup: verdict.match.setup.id, rule: verdict.match.rule }, 'sender accepted');
      callback();
    };
    if (!verdict.match.setup.authorize.spf) return accept();
    const spf = { sender: mailFrom, ip: normaliseIp(session.remoteAddress), helo: session.hostNameAppearsAs || 'unknown', hostname: state.config.main.smtp.hostname };
    checkSpf({ ...spf, resolver: deps.resolver, timeoutMs: SENDER_AUTH_TIMEOUT_MS }).then(
      (failure) => (failure ? callback(sessions.refuse(session, failure, { from: mailFrom })) : accept()),
      (error: unknown) => {
        state.log.error({ err: error }, 'SPF check failed unexpectedly');
        callback(sessions.refuse(session, refusal('internal_error', 'Temporary local problem, try again later')));
      },
    );
  }

  function onRcptTo(address: SMTPServerAddress, session: SMTPServerSession, callback: Done): void {
    const state = sessions.stateOf(session);
    const txn = state.txn;
    if (!txn) return callback(sessions.refuse(session, refusal('bad_sequence', 'Send MAIL FROM first')));
    const key = address.address.toLowerCase();
    const setup = txn.sender?.setup;
    const limit = Math.min(state.config.main.smtp.max_recipients, setup?.max_recipients ?? Number.POSITIVE_INFINITY);
    if (!txn.addresses.has(key) && txn.addresses.size >= limit) {
      return callback(sessions.refuse(session, refusal('too_many_recipients', `Too many recipients: at most ${limit} per message, send the rest in another message`)));
    }
    const verdict = checkRecipient(state.config, setup, address.address);
    if (!verdict.ok) return callback(sessions.refuse(session, verdict.refusal, { to: address.address }));
    if (txn.outsider) {
      if (verdict.kind !== 'postmaster') return callback(sessions.refuse(session, txn.outsider, { from: txn.mailFrom }));
      const ip = normaliseIp(session.remoteAddress);
      if (!txn.postmaster && !postmasterAllowed(state.config.main.smtp.postmaster_rate, ip)) {
        return callback(sessions.refuse(session, refusal('postmaster_rate', `Too much mail for postmaster from ${ip}; try again later`), { from: txn.mailFrom }));
      }
    }
    if (verdict.kind === 'group') {
      if (!setup || txn.groups.has(verdict.name)) {
        txn.addresses.add(key);
        return callback();
      }
      return void resolveGroup(session, setup, verdict.name, verdict.selector).then((refused) => {
        if (!refused) txn.addresses.add(key);
        callback(refused);
      });
    }
    const accept = () => {
      txn.addresses.add(key);
      if (verdict.kind === 'postmaster') txn.postmaster = true;
      else txn.numbers.set(verdict.e164, address.address);
      callback();
    };
    if (verdict.kind !== 'sms' || !setup || setup.on_suppressed !== 'reject') return accept();
    // Reject mode: the sender wants to hear at once that this number will not get the SMS.
    deps.ledger.checkRecipient(verdict.e164, rulesFor(state.config, setup)).then(
      (rule) => {
        if (rule.allowed) return accept();
        const why = refusal('recipient_suppressed', `${verdict.e164} will not get this SMS: ${suppressionText(rule.reason, rule.detail)}`);
        callback(sessions.refuse(session, why, { to: maskNumber(verdict.e164), reason: rule.reason }));
      },
      (error: unknown) => {
        logStorageFailure(state.log, error, 'ledger unavailable at RCPT TO');
        callback(sessions.refuse(session, refusal('storage_unavailable', 'Temporary storage problem, try again later')));
      },
    );
  }

  /**
   * A group's members, read when the mail arrives (a dynamic group is evaluated
   * now) and kept with the transaction for DATA; refused whole over max_group_size.
   * Members are not checked one by one here: each is decided at DATA like any recipient.
   */
  async function resolveGroup(session: SMTPServerSession, setup: Setup, name: string, selector: GroupSelector): Promise<Error | undefined> {
    const state = sessions.stateOf(session);
    let members: GroupMember[];
    try {
      members = await deps.ledger.groupMembers(selector);
    } catch (error) {
      logStorageFailure(state.log, error, 'ledger unavailable at RCPT TO (group)');
      return sessions.refuse(session, refusal('storage_unavailable', 'Temporary storage problem, try again later'));
    }
    const tooLarge = checkGroupSize(setup, name, members);
    if (tooLarge) return sessions.refuse(session, tooLarge, { group: name });
    state.txn?.groups.set(name, members);
    state.log.debug({ group: name, members: members.length }, 'group accepted');
    return undefined;
  }

  return { onMailFrom, onRcptTo };
}

/** A ledger that is gone is expected (one line, the stack at debug); anything else keeps its stack. */
function logStorageFailure(log: Logger, error: unknown, msg: string): void {
  if (error instanceof StorageError) logFailure(log, 'error', {}, error, msg);
  else log.error({ err: error }, msg);
}
