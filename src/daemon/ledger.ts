import { StorageError } from '../core/errors.js';
import type { DispatcherElection, SendGuard, ServedLedger } from '../ledger/backend.js';
import { openLedger } from '../ledger/open.js';
import type { ConsoleReads } from '../ledger/read-gate.js';
import type { Ledger } from '../ledger/types.js';
import { createClaimPolicy } from '../dispatch/claim-policy.js';
import type { Config } from '../config/load.js';
import type { Wiring } from './steps.js';

export interface OpenedLedger {
  ledger: Ledger;
  /** The ledger as SMTP intake sees it: every call first checks that the ledger file is still the one we opened. */
  intakeLedger: IntakeLedger;
  /** Why the ledger file cannot be used now (a ledger that is a file), for health. */
  fileProblem(): string | undefined;
  /** Resolves if the ledger can no longer be used (the SQLite thread died). */
  failed: Promise<Error>;
  /** The console's reads, on connections of their own: a slow page never holds intake's commits. */
  consoleReads: ConsoleReads;
  /** What health calls the ledger when a read fails. */
  healthName: string;
  /** Which backend and where, for the console's status. */
  where: { backend: 'sqlite' | 'postgres'; path: string };
  guardSend?: SendGuard;
  election?: DispatcherElection;
}

export type IntakeLedger = Pick<Ledger, 'acceptMessage' | 'checkRecipient' | 'groupMembers' | 'contactsByNumber'>;

export function storageLabel(config: Config): string {
  return openLedger(config.storage).label;
}

/** Opens the ledger, watches its file, and starts retention; each registers its stop. */
export async function openLedgerStep(wiring: Wiring): Promise<OpenedLedger> {
  const config = wiring.config();
  const backend = openLedger(config.storage);
  const served = await backend.serve({
    clock: wiring.clock, logger: wiring.logger, claimPolicy: createClaimPolicy(),
    receiptGraceMs: config.main.dispatch.receipt_grace, logLevel: config.main.log.level,
  });
  const { applied, version } = served.migrations;
  if (applied.length > 0) wiring.logger.info({ applied, version }, 'database migrated');
  wiring.steps.add('ledger', () => served.close());
  const fileProblem = watchFile(wiring, served);
  if (config.storage.retentionMs !== null) startRetention(wiring, served, config.storage.retentionMs);
  wiring.steps.add('console readers', () => served.consoleReads.close());
  return {
    ledger: served.ledger,
    intakeLedger: guardedIntake(served.ledger, fileProblem),
    fileProblem,
    failed: served.failed,
    consoleReads: served.consoleReads,
    healthName: served.healthName,
    where: backend.where,
    ...(served.guardSend ? { guardSend: served.guardSend } : {}),
    ...(served.election ? { election: served.election } : {}),
  };
}

/** A ledger that is a file must stay the one we opened; a database server has no file to watch. */
function watchFile(wiring: Wiring, served: ServedLedger): () => string | undefined {
  if (!served.watchFile) return () => undefined;
  const config = wiring.config();
  const watch = served.watchFile(
    (problem) => wiring.logger.fatal({ storage: config.storagePath }, `${problem}; refusing mail with 451 until restarted on the right file (restore it from a backup)`),
  );
  wiring.steps.add('ledger file watch', () => watch.stop());
  return () => watch.problem();
}

/** Intake checks the file before every answer: a 250 into a deleted ledger would be a lie. */
function guardedIntake(ledger: Ledger, fileProblem: () => string | undefined): IntakeLedger {
  const guardFile = async () => {
    const problem = fileProblem();
    if (problem) throw new StorageError(problem);
  };
  return {
    groupMembers: (...args) => guardFile().then(() => ledger.groupMembers(...args)),
    contactsByNumber: (...args) => guardFile().then(() => ledger.contactsByNumber(...args)),
    acceptMessage: (message) => guardFile().then(() => ledger.acceptMessage(message)),
    checkRecipient: (recipient, rules) => guardFile().then(() => ledger.checkRecipient(recipient, rules)),
  };
}

/** storage.retention: a purge a minute after start, then daily. */
function startRetention(wiring: Wiring, served: ServedLedger, retentionMs: number): void {
  const run = () => {
    const cutoff = wiring.clock.now() - retentionMs;
    served.purge(cutoff).then(
      (report) => wiring.logger.info({ cutoff: new Date(cutoff).toISOString(), deleted: report }, 'retention: finished rows purged; consent events kept'),
      (error: unknown) => wiring.logger.error({ err: error }, 'retention purge failed; tried again tomorrow'),
    );
  };
  const first = setTimeout(run, 60_000);
  const daily = setInterval(run, 86_400_000);
  first.unref();
  daily.unref();
  wiring.steps.add('retention', () => {
    clearTimeout(first);
    clearInterval(daily);
  });
}
