import pg from 'pg';
import type { Logger } from '../../core/log.js';
import { connectionOptions, lockKey } from './pool.js';

/** Held (session-level) by the one daemon that dispatches when dispatch.rate_limit is set. */
const DISPATCHER_LOCK = String(lockKey('mail2sms:dispatcher'));

export interface PgSession {
  /** True while this daemon holds the dispatcher lock on a live connection. */
  isLeader(): boolean;
  /** Takes the dispatcher lock if nobody holds it; true if this daemon holds it now. */
  tryLead(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The daemon's own connection, outside the pool: LISTEN for rows queued by any
 * daemon (NOTIFY is sent in the queuing transaction, so it arrives after the
 * commit), and the dispatcher election. Both live and die with the session: when
 * this daemon dies the server drops the lock and another daemon takes it at its
 * next try; when the connection drops we stop leading at once and reconnect.
 */
export function startPgSession(deps: { url: string; channel: string; logger: Logger; onNotify(): void; reconnectMs?: number; maxReconnectMs?: number }): PgSession {
  const { logger } = deps;
  let client: pg.Client | undefined;
  let leader = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  /** Tries since the connection was last up: the wait doubles with each, so a database that stays away is not hammered. */
  let tries = 0;

  function lost(error: Error | undefined): void {
    if (leader) logger.warn('lost the database session: no longer the dispatcher');
    leader = false;
    const dead = client;
    client = undefined;
    void dead?.end().catch(() => undefined);
    if (closed) return;
    const retryInMs = Math.min(deps.maxReconnectMs ?? 15_000, (deps.reconnectMs ?? 1000) * 2 ** tries++);
    logger.warn({ err: error, retryInMs }, 'LISTEN connection lost; reconnecting (dispatch polls meanwhile)');
    clearTimeout(timer);
    timer = setTimeout(() => void connect(), retryInMs);
    timer.unref();
  }

  async function connect(): Promise<void> {
    const next = new pg.Client(connectionOptions(deps.url));
    next.on('error', (error) => {
      if (client === next) lost(error);
    });
    next.on('end', () => {
      if (client === next) lost(undefined);
    });
    next.on('notification', () => deps.onNotify());
    try {
      await next.connect();
      await next.query(`LISTEN ${deps.channel}`);
      if (closed) {
        await next.end();
        return;
      }
      client = next;
      if (tries > 0) logger.info({ tries }, 'LISTEN connection back; listening again');
      tries = 0;
      // Rows queued while we were not listening.
      deps.onNotify();
    } catch (error) {
      await next.end().catch(() => undefined);
      lost(error as Error);
    }
  }
  void connect();

  return {
    isLeader: () => leader && client !== undefined,
    async tryLead() {
      if (leader || !client) return leader && client !== undefined;
      const current = client;
      try {
        const { rows } = await current.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [DISPATCHER_LOCK]);
        leader = client === current && rows[0]?.ok === true;
      } catch {
        leader = false;
      }
      return leader;
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      leader = false;
      const last = client;
      client = undefined;
      await last?.end().catch(() => undefined);
    },
  };
}
