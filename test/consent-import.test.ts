import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeConfig, type TestDirs } from './helpers.js';

/*
 * `mail2sms consent import` at size: 100 000 rows, all or nothing, every bad
 * row reported with its line. The real CLI process on a real ledger file.
 */

const run = promisify(execFile);
const cli = (...args: string[]) => run(process.execPath, ['bin/mail2sms.js', ...args], { cwd: process.cwd(), maxBuffer: 16 * 1024 * 1024 });
const ROWS = 100_000;
let dirs: TestDirs;
let numbers: string[];

beforeAll(() => {
  dirs = writeConfig({ main: { consent: { purposes: { newsletter: { max_silence: '180d' } } } } });
  numbers = [];
  for (let n = 4520100000; numbers.length < ROWS; n++) {
    const e164 = `+${n}`;
    if (parsePhoneNumberFromString(e164)?.isValid()) numbers.push(e164);
  }
});
afterAll(() => dirs?.cleanup());

function csv(bad: Map<number, string>): string {
  const lines = ['number,at,evidence'];
  numbers.forEach((number, i) => {
    const row = bad.get(i);
    lines.push(row ?? `${number},2026-06-01T12:00:00Z,"signup form, id ${i}"`);
  });
  return lines.join('\n') + '\n';
}

const count = () => {
  if (!existsSync(dirs.dbFile)) return 0; // validation failed before the ledger was even opened
  const db = new Database(dirs.dbFile, { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM consent_events').pluck().get() as number;
  } finally {
    db.close();
  }
};

describe('consent import of 100 000 rows', () => {
  it('with bad rows: every one reported by line, exit 65, nothing imported', async () => {
    const file = join(dirs.dir, 'bad.csv');
    // Data row i is on line i + 2 (line 1 is the header).
    writeFileSync(file, csv(new Map([[10, 'not-a-number,,x'], [50_000, '+4530000001,,x'], [99_999, `${numbers[99_999]},yesterday,x`]])));
    const failure = await cli('consent', 'import', file, '--purpose', 'newsletter', '--source', 'crm', '-c', dirs.configFile).catch((e: { code: number; stderr: string }) => e);
    expect(failure).toMatchObject({ code: 65 });
    const stderr = (failure as { stderr: string }).stderr;
    expect(stderr).toContain('3 invalid row(s); nothing was imported');
    expect(stderr).toMatch(/bad\.csv:12: .*not-a-number/);
    expect(stderr).toMatch(/bad\.csv:50002: .*\+4530000001/);
    expect(stderr).toMatch(/bad\.csv:100001: at: "yesterday" is not a time/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(count()).toBe(0);
  });

  it('without: all 100 000 imported in one transaction, with their evidence', async () => {
    const file = join(dirs.dir, 'good.csv');
    writeFileSync(file, csv(new Map()));
    const { stdout } = await cli('consent', 'import', file, '--purpose', 'newsletter', '--source', 'crm', '-c', dirs.configFile);
    expect(stdout).toBe(`imported ${ROWS} opt-in(s) for purpose newsletter\n`);
    expect(count()).toBe(ROWS);
    const shown = (await cli('consent', 'show', numbers[77_777] as string, '-c', dirs.configFile)).stdout;
    expect(shown).toContain('purpose newsletter: opted in since 2026-06-01T12:00:00.000Z (crm)');
    expect(shown).toContain('signup form, id 77777');
  });
});
