import type { LedgerBackend, StorageSettings } from './backend.js';
import { postgresBackend } from './postgres/backend.js';
import { sqliteBackend } from './sqlite/backend.js';
import { openCopySource } from './sqlite/read-only.js';

/**
 * The ledger the storage settings name: the one place that knows which
 * backends exist. It connects to nothing itself; what it returns does, when
 * the daemon serves (`serve`), a command opens (`open`, `openReadOnly`), or
 * an operation runs (`migrate`, `backup`, `purge`).
 */
export function openLedger(storage: StorageSettings): LedgerBackend {
  switch (storage.type) {
    case 'sqlite':
      return sqliteBackend(storage);
    case 'postgres':
      // `migrate --from-sqlite` reads a SQLite ledger: the SQLite side opens it.
      return postgresBackend(storage, { openCopySource });
  }
}
