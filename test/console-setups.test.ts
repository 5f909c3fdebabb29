import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { describeSender, describeWindow } from '../src/config/describe.js';
import { setupsPage } from '../src/http/console/pages-state.js';
import { createView } from '../src/http/console/mask.js';
import type { PageContext } from '../src/http/console/page-types.js';
import { alertsSetup, writeConfig, type TestDirs } from './helpers.js';

/*
 * The setups page from a real, typed config (issue 29): senders, networks and
 * the sending window in words. Before, it printed `Senders [object Object]`,
 * `client IP in [object Object]` and the window as raw JSON.
 */

let dirs: TestDirs | undefined;
afterEach(() => dirs?.cleanup());

function pageText(setups: ReturnType<typeof loadConfig>['setups']): string {
  const ctx = { setups: () => setups, view: createView(false), now: Date.now(), query: new URLSearchParams() } as unknown as PageContext;
  return setupsPage(ctx).body.toString().replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
}

describe('the setups page', () => {
  it('shows senders, networks, the window and groups in words', () => {
    dirs = writeConfig({
      setups: [alertsSetup({
        senders: ['ops@example.test', 'example.test', '*.example.test'],
        sending_window: { timezone: 'Europe/Copenhagen', days: 'mon-fri', hours: '08:00-20:00', holidays: ['2026-12-24'] },
      })],
    });
    const text = pageText(loadConfig(dirs.configFile).setups);
    expect(text).not.toContain('[object Object]');
    expect(text).not.toContain('{');
    expect(text).toContain('Senders ops@example.test; anyone at example.test; anyone at a subdomain of example.test');
    expect(text).toContain('client IP in 127.0.0.0/8, ::1/128');
    expect(text).toContain('Sending window Mon–Fri 08:00–20:00 (Europe/Copenhagen), closed on 2026-12-24');
    expect(text).toContain('Groups none');
  });
});

describe('config values in words', () => {
  it.each([
    [{ kind: 'address', address: 'ops@example.test' } as const, 'ops@example.test'],
    [{ kind: 'domain', domain: 'example.test' } as const, 'anyone at example.test'],
    [{ kind: 'subdomains', domain: 'example.test' } as const, 'anyone at a subdomain of example.test'],
  ])('sender %j → %s', (pattern, words) => {
    expect(describeSender(pattern)).toBe(words);
  });

  it.each([
    [['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], 0, 1440, 'every day all day (UTC)'],
    [['mon', 'wed', 'thu', 'sat'], 480, 1440, 'Mon, Wed–Thu, Sat 08:00–24:00 (UTC)'],
    [['sat', 'sun'], 600, 630, 'Sat–Sun 10:00–10:30 (UTC)'],
  ] as const)('window %j %d–%d → %s', (days, start, end, words) => {
    expect(describeWindow({ timezone: 'UTC', days, start, end, holidays: [] })).toBe(words);
  });
});
