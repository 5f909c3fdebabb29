import { addCount, PURGE_STEPS, type PurgeReport } from '../purge.js';
import { inTransaction, type PgPool } from './pool.js';

/** ../purge.ts on PostgreSQL: the same statements, one transaction. */
export function purgePostgres(pool: PgPool, cutoff: number): Promise<PurgeReport> {
  return inTransaction(pool, async (client) => {
    const report: PurgeReport = {};
    for (const step of PURGE_STEPS) {
      const result = await client.query(step.sql.replaceAll('@cutoff', '$1::bigint'), [cutoff]);
      if (step.counted) addCount(report, step.what, result.rowCount ?? 0);
    }
    return report;
  });
}
