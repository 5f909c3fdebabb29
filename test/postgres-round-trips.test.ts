import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { measureRoundTrips } from '../bench/pg-round-trips.js';
import { migratePostgres } from '../src/ledger/postgres/migrate.js';
import { createPgPool } from '../src/ledger/postgres/pool.js';
import { startTestPostgres, type TestPostgres } from './pg-server.js';

/*
 * Round trips to PostgreSQL, counted (not timed): each one is a network wait
 * under the number's lock, so intake holds to two: reads with BEGIN and the
 * locks, writes with COMMIT. bench/pg-round-trips prints the same counts.
 */

let server: TestPostgres;
let url: string;
beforeAll(async () => {
  server = await startTestPostgres();
  url = await server.createDatabase();
  const pool = createPgPool(url, 1);
  const client = await pool.connect();
  await migratePostgres(client);
  client.release();
  await pool.end();
});
afterAll(() => server?.stop());

describe('round trips to PostgreSQL', () => {
  it('an accepted mail takes two, whatever its recipients and decisions; a setup with a daily cap decides one recipient after the other', async () => {
    const { intake, sms, idleClaim, receipts } = await measureRoundTrips(url, 20);
    expect(intake).toEqual({
      'one recipient': 2,
      'three recipients': 2,
      'one recipient, setup daily_limit': 6,
      'one recipient in its cooldown (suppressed)': 2,
    });
    // Per SMS: the claim (shared by a batch), the send guard, the send recorded, its receipt.
    expect(sms['send guard']).toBe(2);
    expect(sms['record sent']).toBe(2);
    // A receipt: decided and stored with BEGIN and the provider id's lock, the row settled with COMMIT (it was 6).
    expect(sms.receipt).toBe(2);
    expect(receipts).toEqual({ 'a part, others outstanding (partial)': 2, 'the last part (settles the SMS)': 2, 'the same receipt again': 3 });
    expect(sms.total).toBeLessThan(12);
    // A dispatcher polling an empty queue: BEGIN with its two reads, COMMIT.
    expect(idleClaim).toBe(2);
  });
});
