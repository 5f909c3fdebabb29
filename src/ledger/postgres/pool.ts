import { createHash } from 'node:crypto';
import pg from 'pg';

export type PgPool = pg.Pool;
export type PgClient = pg.PoolClient | pg.Client;

// BIGINT (int8) and count(*) as numbers: every time is epoch ms (< 2^53), every id far below it.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function connectionOptions(url: string): pg.ClientConfig {
  return { connectionString: url, types, application_name: 'mail2sms' };
}

/**
 * One pool per process; `size` is storage.pool. An idle connection that the
 * server drops (restart, failover) is reported and replaced on the next use,
 * rather than an unhandled 'error' that would end the process.
 */
export function createPgPool(url: string, size: number, onIdleError: (error: Error) => void = () => undefined): PgPool {
  const pool = new pg.Pool({ ...connectionOptions(url), max: size, idleTimeoutMillis: 30_000 });
  pool.on('error', onIdleError);
  return pool;
}

/** host:port of a postgres:// url, for errors and logs: never the user or the password. */
export function describeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    const host = parsed.hostname || new URLSearchParams(parsed.search).get('host') || 'localhost';
    return `${host}:${parsed.port || '5432'}`;
  } catch {
    return '(unparsable url)';
  }
}

/**
 * The 64-bit advisory-lock key of a name ("number:+4520000001"): the first 8
 * bytes of its SHA-256 as a signed BIGINT. 64 bits rather than the two-int
 * form because a collision only costs a wait (two numbers share a lock), and
 * at 64 bits a collision among even millions of numbers is practically never;
 * computed here rather than with hashtextextended() so the key does not
 * depend on the server's version and so we can sort keys before locking
 * (locks taken in one global order cannot deadlock).
 */
export function lockKey(name: string): bigint {
  return createHash('sha256').update(name).digest().readBigInt64BE(0);
}

export const numberKey = (recipient: string) => lockKey(`number:${recipient}`);

/** Keys in one global order, without repeats: every transaction takes its locks in this order. */
export function sortedKeys(keys: Iterable<bigint>): string[] {
  return [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String);
}

/** Transaction-scoped advisory locks, taken in key order; released by COMMIT or ROLLBACK. */
export async function lockAll(client: PgClient, keys: Iterable<bigint>): Promise<void> {
  const sorted = sortedKeys(keys);
  if (sorted.length === 0) return;
  // One statement; unnest keeps the array's order, so the locks are taken in key order.
  await client.query('SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, i) ORDER BY i', [sorted]);
}

const RETRYABLE = new Set(['40001', '40P01']);

/** Runs `fn` in one transaction on a pooled connection; a serialisation failure or deadlock is retried once. */
export async function inTransaction<T>(pool: PgPool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (attempt < 3 && RETRYABLE.has((error as { code?: string }).code ?? '')) continue;
      throw error;
    } finally {
      client.release();
    }
  }
}
