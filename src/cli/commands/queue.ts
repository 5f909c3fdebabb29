import { userInfo } from 'node:os';
import type { Command } from 'commander';
import type { MailStatus, QueueEntry, QueueFilter, Requester } from '../../ledger/types.js';
import { CliFailure, configOption, load } from '../common.js';
import { EXIT } from '../exit.js';
import type { CliIo } from '../io.js';
import { readNumber } from '../ledger-commands.js';
import { withCliLedger } from '../ledger.js';

/*
 * Queue operations without SQL: what happened to a mail, what waits and why,
 * cancel what is not sent yet, retry what failed. Changes are recorded as
 * events with who asked and why.
 */

const ISO = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());
const STATES = ['queued', 'scheduled', 'deferred', 'retrying', 'failed'] as const;

function requester(opts: { by?: string; reason?: string }): Requester {
  let who = opts.by;
  if (!who) {
    try {
      who = userInfo().username;
    } catch {
      who = 'unknown user';
    }
  }
  return { who, why: opts.reason ?? 'by hand' };
}

function formatStatus(status: MailStatus): string {
  const lines = [
    `${status.queueId}  setup ${status.setupId}, from <${status.mailFrom}>, received ${ISO(status.receivedAt)}${status.subject ? `, subject "${status.subject}"` : ''}`,
    ...(status.sendAt !== null ? [`  scheduled for ${ISO(status.sendAt)}`] : []),
    ...(status.expiresAt !== null ? [`  expires if not sent by ${ISO(status.expiresAt)}`] : []),
  ];
  for (const r of status.recipients) {
    lines.push(`  ${r.recipient}: ${r.status}${r.reason ? ` (${r.reason})` : ''}, ${r.attempts} attempt(s)${r.providerMessageId ? `, provider id ${r.providerMessageId}` : ''}`);
    for (const e of r.events) lines.push(`    ${ISO(e.at)}  ${e.type}${e.detail ? `: ${e.detail}` : ''}`);
    for (const rc of r.receipts) lines.push(`    ${ISO(rc.at)}  receipt ${rc.status}${rc.part !== null ? ` (part ${rc.part})` : ''}${rc.errorCode ? ` ${rc.errorCode}` : ''} → ${rc.outcome}`);
  }
  return lines.join('\n') + '\n';
}

function formatQueue(entries: QueueEntry[]): string {
  if (entries.length === 0) return 'nothing waiting\n';
  return entries
    .map((e) => `${e.queueId}  ${e.recipient}  ${e.setupId}  ${e.state}${e.nextAttemptAt !== null ? ` until ${ISO(e.nextAttemptAt)}` : ''}${e.reason ? ` (${e.reason})` : ''}`)
    .join('\n') + '\n';
}

export function registerQueueCommands(program: Command, { out, setExit }: CliIo): void {
  program
    .command('status')
    .description('what happened to a mail: each recipient with its status, reason, receipts and events')
    .argument('<queue-id>', 'the id from "250 2.0.0 Queued as …"')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (queueId: string, opts: { json?: boolean; config: string }) => {
      const status = await withCliLedger(load(opts.config), (ledger) => ledger.mailStatus(queueId.toUpperCase()));
      if (!status) throw new CliFailure(`no mail with queue id ${queueId}`, EXIT.dataErr);
      out(opts.json ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status));
    });

  program
    .command('queue')
    .description('SMS waiting to be sent, and why each waits (due, scheduled, deferred by a sending window, retrying), or --status failed')
    .option('--setup <id>', 'only this setup')
    .option('--status <state>', `one of ${STATES.join(', ')}`)
    .option('--limit <n>', 'at most this many rows', '100')
    .option('--json', 'print JSON')
    .addOption(configOption())
    .action(async (opts: { setup?: string; status?: string; limit: string; json?: boolean; config: string }) => {
      if (opts.status !== undefined && !(STATES as readonly string[]).includes(opts.status)) throw new CliFailure(`--status: one of ${STATES.join(', ')}`, EXIT.usage);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new CliFailure('--limit: must be a positive whole number', EXIT.usage);
      const filter: QueueFilter = { limit, ...(opts.setup ? { setupId: opts.setup } : {}), ...(opts.status ? { state: opts.status as QueueFilter['state'] & string } : {}) };
      const entries = await withCliLedger(load(opts.config), (ledger) => ledger.listQueue(filter));
      out(opts.json ? JSON.stringify(entries, null, 2) + '\n' : formatQueue(entries));
    });

  for (const [name, description] of [
    ['cancel', 'cancel SMS of a mail not sent yet (queued, scheduled or deferred); recorded with who and why'],
    ['retry', 'queue failed SMS of a mail again, as a new attempt under the same idempotency key; recorded with who and why'],
  ] as const) {
    program
      .command(name)
      .description(description)
      .argument('<queue-id>')
      .option('--recipient <number>', 'only this recipient')
      .option('--reason <text>', 'why (kept in the history)')
      .option('--by <name>', 'who (default: your user name)')
      .option('--json', 'print JSON')
      .addOption(configOption())
      .action(async (queueId: string, opts: { recipient?: string; reason?: string; by?: string; json?: boolean; config: string }) => {
        const config = load(opts.config);
        const recipient = opts.recipient === undefined ? undefined : readNumber(opts.recipient, undefined, config, '--recipient');
        const id = queueId.toUpperCase();
        const result = await withCliLedger(config, async (ledger) => {
          if (!(await ledger.mailStatus(id))) throw new CliFailure(`no mail with queue id ${queueId}`, EXIT.dataErr);
          const by = requester(opts);
          if (name === 'cancel') {
            const r = await ledger.cancel(id, recipient, by);
            return { done: r.cancelled, left: r.notCancelled, verb: 'cancelled' };
          }
          const r = await ledger.retryFailed(id, recipient, by);
          return { done: r.retried, left: r.notRetried, verb: 'queued again' };
        });
        if (opts.json) out(JSON.stringify({ [result.verb === 'cancelled' ? 'cancelled' : 'retried']: result.done, unchanged: result.left }, null, 2) + '\n');
        else {
          out(result.done.length > 0 ? `${result.verb}: ${result.done.join(', ')}\n` : `nothing ${result.verb}\n`);
          for (const left of result.left) out(`  ${left.recipient}: left as it is (${left.status})\n`);
        }
        // Nothing changed: a script should notice.
        if (result.done.length === 0) setExit(EXIT.dataErr);
      });
  }
}
