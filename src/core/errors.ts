/*
 * Expected outcomes that refuse a message or a recipient. Stages return these as
 * values; the SMTP layer (src/smtp/replies.ts) is the one place that turns them
 * into reply codes, and the CLI (src/cli/exit.ts) into exit codes.
 */
export type RefusalCode =
  | 'unknown_sender'
  | 'sender_not_authorised'
  | 'auth_required'
  | 'spf_failed'
  | 'dkim_failed'
  | 'dns_temporary'
  | 'auth_failed'
  | 'auth_locked'
  | 'connection_rate'
  | 'relay_denied'
  | 'not_a_number'
  | 'invalid_number'
  | 'country_not_allowed'
  | 'unknown_group'
  | 'group_not_allowed'
  | 'group_too_large'
  | 'merge_failed'
  | 'too_many_recipients'
  | 'message_too_large'
  | 'no_text'
  | 'too_long'
  | 'recipient_suppressed'
  | 'bad_send_at'
  | 'content_limit'
  | 'undecodable_text'
  | 'notification_loop'
  | 'postmaster_unavailable'
  | 'postmaster_refused'
  | 'storage_unavailable'
  | 'bad_sequence'
  | 'shutting_down'
  | 'postmaster_rate'
  | 'internal_error';

export interface Refusal {
  code: RefusalCode;
  /** Human reason shown to the client after the status code. */
  detail: string;
}

export function refusal(code: RefusalCode, detail: string): Refusal {
  return { code, detail };
}

/** Thrown by the ledger when it cannot store; intake answers 451 4.3.0 and the client retries. */
export class StorageError extends Error {
  readonly code = 'storage_unavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
  }
}

/**
 * Thrown when the console's readers (src/ledger/read-gate.ts) all read and
 * enough requests wait already: the page is refused (503 with Retry-After)
 * rather than queued without end, and never waits on the ledger's writer.
 */
export class ReadersBusyError extends Error {
  readonly code = 'readers_busy';
  constructor(message: string) {
    super(message);
    this.name = 'ReadersBusyError';
  }
}

/**
 * Why the ledger cannot do what a command asked, for the CLI (src/cli/exit.ts
 * maps each kind to an exit code): not there or unreachable, not something
 * this backend does, a file it cannot create, a ledger of another schema
 * version, or one it cannot read.
 */
export type LedgerFailureKind = 'unavailable' | 'unsupported' | 'cannot_create' | 'wrong_version' | 'unreadable';

export class LedgerFailure extends Error {
  constructor(message: string, readonly kind: LedgerFailureKind) {
    super(message);
    this.name = 'LedgerFailure';
  }
}

/**
 * Outcomes of DATA that are answered 250: the mail is ours now (stored, or
 * deliberately discarded). src/smtp/replies.ts renders each one; intake only
 * names it.
 */
export type Acceptance =
  | { code: 'bounce_discarded' }
  | { code: 'bounce_for_postmaster' }
  | { code: 'auto_reply_discarded' }
  | { code: 'postmaster_only' }
  | { code: 'queued'; queueId: string; note: string }
  | { code: 'already_queued'; queueId: string };
