import type { LedgerFailureKind } from '../core/errors.js';

/** Exit codes (sysexits.h), one table for the whole CLI. */
export const EXIT = {
  ok: 0,
  /** explain: the daemon would refuse this mail (a 4xx or 5xx answer). */
  refused: 1,
  /** A check found problems (check-config found none to crash on, but the config is invalid). */
  usage: 64,
  dataErr: 65,
  unavailable: 69,
  software: 70,
  cantCreate: 73,
  tempFail: 75,
  config: 78,
} as const;

/** A ledger failure (core/errors.ts) as an exit code. */
export const LEDGER_FAILURE_EXIT: Record<LedgerFailureKind, number> = {
  unavailable: EXIT.unavailable,
  unsupported: EXIT.usage,
  cannot_create: EXIT.cantCreate,
  wrong_version: EXIT.dataErr,
  unreadable: EXIT.software,
};
