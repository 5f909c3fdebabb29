import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';

/*
 * A throwaway PostgreSQL for tests and the bench, from the Debian `postgresql` binaries of
 * this machine image (/usr/lib/postgresql/<version>/bin; MAIL2SMS_PG_BIN
 * overrides): initdb into a temp dir, one server on a random loopback port,
 * fsync off (the tests kill daemons, and stop the database only with a fast
 * shutdown, which still writes everything out). initdb refuses to
 * run as root, so as root the server runs as the `postgres` user.
 */

export interface TestPostgres {
  /** The server's address: postgres://postgres@127.0.0.1:<port>. */
  readonly base: string;
  /** A fresh empty database on the server; its postgres:// url. */
  createDatabase(name?: string): Promise<string>;
  /** `pg_ctl -m fast stop` without removing anything: every session is ended, the port refuses connections until restart(). */
  halt(): Promise<void>;
  /** Starts the halted server again on the same port and data directory; resolves when it accepts connections. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function binDir(): string {
  if (process.env.MAIL2SMS_PG_BIN) return process.env.MAIL2SMS_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error('no PostgreSQL server binaries in /usr/lib/postgresql (apt-get install postgresql, or set MAIL2SMS_PG_BIN)');
  return join(root, versions[0]!, 'bin');
}

const asRoot = process.getuid?.() === 0;
function command(program: string, args: string[]): [string, string[]] {
  return asRoot ? ['runuser', ['-u', 'postgres', '--', program, ...args]] : [program, args];
}

let databases = 0;

/** A TCP port free on 127.0.0.1 right now (the tests and the bench start servers on it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** `durable`: fsync on, as a production server runs (the bench); tests run with fsync off. */
export async function startTestPostgres(options: { durable?: boolean } = {}): Promise<TestPostgres> {
  const bin = binDir();
  const dir = mkdtempSync(join(tmpdir(), 'mail2sms-pg-'));
  chmodSync(dir, 0o777);
  if (asRoot) execFileSync('chown', ['postgres', dir]);
  const data = join(dir, 'data');
  const [initdb, initArgs] = command(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
  execFileSync(initdb, initArgs, { stdio: 'ignore' });
  const port = await freePort();
  const [postgres, args] = command(join(bin, 'postgres'), [
    '-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir,
    ...(options.durable ? [] : ['-c', 'fsync=off', '-c', 'full_page_writes=off']), '-c', 'max_connections=300', '-c', 'log_min_messages=fatal', '-c', 'track_commit_timestamp=on',
  ]);
  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const launch = async () => {
    const server: ChildProcess = spawn(postgres, args, { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
    await waitUntilUp(admin, exited);
    return { server, exited };
  };
  let running: { server: ChildProcess; exited: Promise<void> } | undefined = await launch();
  const fastStop = async () => {
    if (!running) return;
    // SIGINT to the postmaster itself (runuser does not pass signals on): fast shutdown, sessions are ended.
    const { server, exited } = running;
    running = undefined;
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      server.kill('SIGKILL');
    }
    await exited;
  };
  return {
    base: `postgres://postgres@127.0.0.1:${port}`,
    async createDatabase(name = `t${process.pid}_${++databases}`) {
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    halt: fastStop,
    async restart() {
      running ??= await launch();
    },
    async stop() {
      await fastStop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitUntilUp(url: string, exited: Promise<void>): Promise<void> {
  let dead = false;
  void exited.then(() => (dead = true));
  for (let i = 0; i < 300; i++) {
    if (dead) throw new Error('the test PostgreSQL server exited at start');
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  throw new Error('the test PostgreSQL server did not accept connections within 15 s');
}

/** Empties every ledger table (between tests sharing one database); the schema stays. */
export async function truncateLedger(client: { query(sql: string): Promise<unknown> }): Promise<void> {
  // Every table the migrations made but their own record, read from the catalogue so a new migration's table is included.
  await client.query(`DO $$ BEGIN
    EXECUTE (SELECT 'TRUNCATE ' || string_agg(format('%I', tablename), ', ') || ' RESTART IDENTITY CASCADE'
               FROM pg_tables WHERE schemaname = current_schema() AND tablename != 'schema_migrations');
  END $$`);
}
