import type { Command } from 'commander';
import { isOccurrence, latestOccurrence, compileSchedule } from '../../automations/schedule.js';
import { previewOccurrence, startOccurrence } from '../../automations/occurrence.js';
import type { Automation } from '../../config/automations.js';
import type { Config } from '../../config/load.js';
import type { AutomationRun } from '../../ledger/types.js';
import { CliFailure, configOption, load } from '../common.js';
import { EXIT } from '../exit.js';
import type { CliIo } from '../io.js';
import { readTime } from '../ledger-commands.js';
import { openLedger } from '../../ledger/open.js';
import { withCliLedger } from '../ledger.js';

/*
 * `mail2sms automations …`: what is scheduled and when it runs next, a
 * preview of one occurrence (nothing written), a run by hand (under the same
 * key as the scheduled run, so it never goes twice) and the runs so far.
 * Both backends, through the ledger interface the daemon uses.
 */

const ISO = (ms: number) => new Date(ms).toISOString();

/** An instant as people in the automation's zone read it: 2026-06-02 10:00 Europe/Copenhagen. */
export function localTime(ms: number, timezone: string): string {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
    .formatToParts(ms);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  return `${part('year')}-${part('month')}-${part('day')} ${part('hour')}:${part('minute')} ${timezone}`;
}

function findAutomation(config: Config, id: string): Automation {
  const automation = config.automations.find((a) => a.id === id);
  if (!automation) {
    const known = config.automations.map((a) => a.id);
    throw new CliFailure(`no automation "${id}" (${known.length ? `known: ${known.join(', ')}` : 'none in automations_dir'})`, EXIT.usage);
  }
  return automation;
}

/** --at T must be an occurrence; without it, `fallback` (the latest due for run, the next for preview). */
function occurrenceOf(automation: Automation, at: string | undefined, fallback: 'latest' | 'next', now: number): number {
  const { schedule } = automation;
  if (at !== undefined) {
    const ms = readTime(at, '--at');
    if (isOccurrence(schedule, ms)) return ms;
    const before = latestOccurrence(schedule, ms);
    const after = compileSchedule(schedule).next(ms);
    const near = [before, after].filter((t): t is number => t !== undefined).map(ISO).join(' and ');
    throw new CliFailure(`--at: ${ISO(ms)} is not an occurrence of "${schedule.cron}" in ${schedule.timezone}${near ? `; the nearest are ${near}` : ''}`, EXIT.dataErr);
  }
  const found = fallback === 'latest' ? latestOccurrence(schedule, now) : compileSchedule(schedule).next(now);
  if (found === undefined) throw new CliFailure(`automation ${automation.id} has no ${fallback === 'latest' ? 'occurrence due yet' : 'next occurrence'}; pass --at`, EXIT.dataErr);
  return found;
}

function runSummary(run: AutomationRun): string {
  if (run.outcome === 'missed') return `missed${run.detail ? ` (${run.detail})` : ''}`;
  return `ran (${run.runBy}) at ${ISO(run.recordedAt)}: ${run.recipients} recipient(s), ${run.queued} queued, ${run.suppressed} suppressed  [${run.queueId ?? '-'}]`;
}

const runLine = (run: AutomationRun, timezone: string) => `${localTime(run.scheduledAt, timezone)}  ${runSummary(run)}`;

const runJson = (run: AutomationRun) => ({ ...run, scheduledAt: ISO(run.scheduledAt), recordedAt: ISO(run.recordedAt) });

export function registerAutomationsCommands(program: Command, { out, setExit }: CliIo): void {
  const automations = program.command('automations').description('scheduled SMS to groups (automations_dir): list, preview, run by hand, history');

  automations
    .command('list')
    .description('every automation: id, title, next run in its local time, last run with its counts')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (opts: { json?: boolean; config: string }) => {
      const config = load(opts.config);
      // Before the first `migrate` there is no SQLite ledger and so no run yet: list the automations anyway.
      const noLedgerYet = !openLedger(config.storage).exists();
      const last = config.automations.length && !noLedgerYet ? await withCliLedger(config, (ledger) => ledger.lastRuns()) : [];
      const now = Date.now();
      const rows = config.automations.map((a) => {
        const next = a.enabled ? compileSchedule(a.schedule).next(now) : undefined;
        return { automation: a, next, last: last.find((run) => run.automationId === a.id) };
      });
      if (opts.json) {
        return out(JSON.stringify(rows.map(({ automation: a, next, last: run }) => ({
          id: a.id, title: a.title, enabled: a.enabled, setup: a.setup, group: a.recipients.group, schedule: a.schedule,
          nextRun: next === undefined ? null : ISO(next), nextRunLocal: next === undefined ? null : localTime(next, a.schedule.timezone),
          lastRun: run ? runJson(run) : null,
        })), null, 2) + '\n');
      }
      if (rows.length === 0) return out('no automations (put one YAML file per automation in automations_dir)\n');
      out(rows.map(({ automation: a, next, last: run }) => [
        `${a.id.padEnd(16)} ${a.title}${a.enabled ? '' : '  (disabled)'}`,
        `  next run:  ${next === undefined ? '-' : localTime(next, a.schedule.timezone)}   (${a.schedule.cron}; group ${a.recipients.group}; setup ${a.setup})`,
        `  last run:  ${run ? runLine(run, a.schedule.timezone) : 'never'}`,
      ].join('\n')).join('\n') + '\n');
    });

  automations
    .command('preview')
    .description('who would get what for one occurrence, with each verdict; writes nothing (default: the next occurrence)')
    .argument('<id>')
    .option('--at <time>', 'the occurrence (RFC 3339), e.g. 2026-06-02T08:00:00Z')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (id: string, opts: { at?: string; json?: boolean; config: string }) => {
      const { config, automation, now, at } = chooseOccurrence(id, opts, 'next');
      const preview = await withCliLedger(config, (ledger) => previewOccurrence(ledger, config, automation, at, now));
      if (!preview.ok) {
        setExit(EXIT.refused);
        return out(opts.json ? JSON.stringify({ id, occurrence: ISO(at), refused: preview.refusal.detail }, null, 2) + '\n' : `${id} at ${localTime(at, automation.schedule.timezone)}: would not be sent: ${preview.refusal.detail}\n`);
      }
      if (opts.json) return out(JSON.stringify({ id, occurrence: ISO(at), recipients: preview.rows }, null, 2) + '\n');
      const sending = preview.rows.filter((r) => r.verdict === 'would send').length;
      out(`${id} at ${localTime(at, automation.schedule.timezone)}: ${preview.rows.length} recipient(s), ${sending} would be sent, ${preview.rows.length - sending} suppressed\n`
        + preview.rows.map((r) => `  ${r.number}  ${r.verdict}${r.reason ? ` (${r.reason}: ${r.detail ?? ''})` : ''} — "${r.text}"`).join('\n') + (preview.rows.length ? '\n' : ''));
    });

  automations
    .command('run')
    .description('start the run of one occurrence now (default: the latest due); an occurrence that already ran sends nothing; a future --at is only previewed unless --now')
    .argument('<id>')
    .option('--at <time>', 'the occurrence (RFC 3339)')
    .option('--now', 'with a future --at: send that occurrence now, ahead of its time (its scheduled run then sends nothing)')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (id: string, opts: { at?: string; now?: boolean; json?: boolean; config: string }) => {
      const { config, automation, now, at } = chooseOccurrence(id, opts, 'latest');
      const when = localTime(at, automation.schedule.timezone);
      // A future occurrence sent now would go early and take the scheduled run's key: only on purpose.
      if (at > now && !opts.now) return previewFuture({ id, config, automation, at, now, json: opts.json === true }, { out, setExit });
      const outcome = await withCliLedger(config, (ledger) => startOccurrence(ledger, config, automation, at, 'manual', now));
      if (outcome.outcome === 'refused') {
        setExit(EXIT.dataErr);
        return out(opts.json ? JSON.stringify({ id, occurrence: ISO(at), outcome: 'refused', reason: outcome.refusal.detail }, null, 2) + '\n' : `${id} at ${when}: not sent: ${outcome.refusal.detail}\n`);
      }
      if (opts.json) return out(JSON.stringify({ id, occurrence: ISO(at), outcome: outcome.outcome, early: at > now, run: runJson(outcome.run) }, null, 2) + '\n');
      if (outcome.outcome === 'already-ran') return out(`${id} at ${when}: already ran, nothing sent: ${runSummary(outcome.run)}\n`);
      const early = at > now ? `; sent ahead of its time (--now): the scheduled run at ${when} sends nothing\n` : '\n';
      out(`${id} at ${when}: ${runSummary(outcome.run)}${early}`);
    });

  automations
    .command('history')
    .description('the runs of one automation, newest first: ran (with counts and queue id) or missed (and why)')
    .argument('<id>')
    .option('--limit <n>', 'at most this many runs', '50')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (id: string, opts: { limit: string; json?: boolean; config: string }) => {
      const config = load(opts.config);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new CliFailure('--limit: must be a positive whole number', EXIT.usage);
      const automation = config.automations.find((a) => a.id === id);
      // A removed automation's runs stay readable by its id.
      const timezone = automation?.schedule.timezone ?? 'UTC';
      const runs = await withCliLedger(config, (ledger) => ledger.runHistory(id, limit));
      if (opts.json) return out(JSON.stringify(runs.map(runJson), null, 2) + '\n');
      if (runs.length === 0) return out(`${id}: no runs yet\n`);
      out(`${id}${automation ? ` — ${automation.title}` : ''}\n` + runs.map((run) => `  ${runLine(run, timezone)}`).join('\n') + '\n');
    });
}

/** `run --at <future>` without --now: what the preview shows, and that nothing was sent or recorded. */
async function previewFuture(
  run: { id: string; config: Config; automation: Automation; at: number; now: number; json: boolean },
  { out, setExit }: CliIo,
): Promise<void> {
  const { id, config, automation, at, now } = run;
  const when = localTime(at, automation.schedule.timezone);
  const preview = await withCliLedger(config, (ledger) => previewOccurrence(ledger, config, automation, at, now));
  const note = `${when} is in the future: preview only, nothing sent or recorded; the scheduled run sends it then (pass --now to send it now instead)`;
  if (run.json) {
    const body = preview.ok ? { recipients: preview.rows } : { refused: preview.refusal.detail };
    return out(JSON.stringify({ id, occurrence: ISO(at), outcome: 'preview', note, ...body }, null, 2) + '\n');
  }
  if (!preview.ok) {
    setExit(EXIT.refused);
    return out(`${id} at ${note}\n  would not be sent: ${preview.refusal.detail}\n`);
  }
  const sending = preview.rows.filter((r) => r.verdict === 'would send').length;
  out(`${id} at ${note}\n  ${preview.rows.length} recipient(s), ${sending} would be sent, ${preview.rows.length - sending} suppressed\n`);
}

/** The config, the automation and the occurrence a preview or run is about (`--at`, else the next or the latest due). */
function chooseOccurrence(id: string, opts: { at?: string; config: string }, which: 'next' | 'latest') {
  const config = load(opts.config);
  const automation = findAutomation(config, id);
  const now = Date.now();
  return { config, automation, now, at: occurrenceOf(automation, opts.at, which, now) };
}
