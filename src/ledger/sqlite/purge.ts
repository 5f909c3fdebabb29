import type { Db } from './db.js';
import { addCount, PURGE_STEPS, type PurgeReport } from '../purge.js';

/** Deletes what PURGE_STEPS says, older than `cutoff` (epoch ms), in one transaction. */
export function purgeSqlite(db: Db, cutoff: number): PurgeReport {
  return db.transaction(() => {
    const report: PurgeReport = {};
    for (const step of PURGE_STEPS) {
      const changes = db.prepare(step.sql).run({ cutoff }).changes;
      if (step.counted) addCount(report, step.what, changes);
    }
    return report;
  })();
}
