import { afterAll, beforeAll } from 'vitest';
import { createClaimPolicy } from '../../src/dispatch/claim-policy.js';
import { migratePostgres } from '../../src/ledger/postgres/migrate.js';
import { createPgPool, type PgPool } from '../../src/ledger/postgres/pool.js';
import { createPostgresLedger } from '../../src/ledger/postgres/ledger.js';
import { quietLogger } from '../ledger-fixture.js';
import { startTestPostgres, truncateLedger, type TestPostgres } from '../pg-server.js';
import { ledgerContract } from './ledger-contract.js';

// The contract, unchanged, on a real PostgreSQL: one throwaway server and one migrated database for this file, emptied before each test.
let server: TestPostgres;
let pool: PgPool;
beforeAll(async () => {
  server = await startTestPostgres();
  pool = createPgPool(await server.createDatabase(), 10);
  const client = await pool.connect();
  await migratePostgres(client);
  client.release();
});
afterAll(async () => {
  await pool.end();
  await server.stop();
});

ledgerContract('PostgreSQL', async (clock) => {
  await truncateLedger(pool);
  const ledger = createPostgresLedger({ pool, clock, logger: quietLogger(), claimPolicy: createClaimPolicy() });
  return { ledger, close: () => ledger.close() };
});
