import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { scheduleProblem } from '../core/cron.js';
import { sendingWindowSchema } from '../core/sending-window.js';
import { parseMerge } from '../message/merge.js';
import { duration, durationOrOff, emailAddress } from './fields.js';
import { country } from './schema.js';
import { automationRefProblems, type Declared } from './cross-check.js';

/*
 * Automations (issue 13): one YAML file per scheduled send in automations_dir.
 * The schema checks each file on its own (cron, zone, text); loadAutomations
 * then checks what the file names elsewhere (its setup, its group), every
 * problem with file, line and field, like the setups'.
 */

export const AUTOMATION_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const FIELD_NAME = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'is not a field name (letters, digits, _ and -)');
const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** A `where` condition on one contact field: a value, any of several, or a date condition. */
const condition = z.union([
  scalar.transform((value) => ({ kind: 'equals' as const, values: [String(value)] })),
  z.array(scalar).min(1, 'is an empty list').transform((values) => ({ kind: 'equals' as const, values: values.map(String) })),
  z.strictObject({ anniversary: z.literal(true) }).transform(() => ({ kind: 'date' as const, date: { anniversary: true as const } })),
  z.strictObject({ within: duration() }).transform((v) => ({ kind: 'date' as const, date: { within: v.within } })),
  z.strictObject({ ago: duration() }).transform((v) => ({ kind: 'date' as const, date: { ago: v.ago } })),
], { error: 'must be a value, a list of values, {anniversary: true}, {within: 7d} or {ago: 30d}' });

export type FieldCondition = z.output<typeof condition>;

const scheduleSchema = z
  .strictObject({
    cron: z.string().min(1).meta({ description: '5 or 6 field cron expression (croner), e.g. "0 10 * * *".' }),
    timezone: z.string().min(1).meta({ description: 'IANA time zone the cron is read in, e.g. Europe/Copenhagen.' }),
  })
  .superRefine((schedule, ctx) => {
    const problem = scheduleProblem(schedule);
    if (problem) ctx.addIssue({ code: 'custom', path: [problem.startsWith(`"${schedule.timezone}"`) ? 'timezone' : 'cron'], message: problem });
  });

export const automationSchema = z
  .strictObject({
    $schema: z.string().optional().meta({ description: 'JSON Schema reference for editors.' }),
    id: z.string().regex(AUTOMATION_ID, 'must be lower-case letters, digits, - and _ (at most 64), starting with a letter or digit').meta({ description: 'Lower-case letters, digits, - and _; with the occurrence, the key of every run: renaming it makes a new automation whose runs are not the old one\'s.' }),
    title: z.string().trim().min(1, 'is required').meta({ description: 'For people: shown by automations list, history <number> and the console\'s number history.' }),
    setup: z.string().min(1).meta({ description: 'A setup id: sender name, category and purpose (consent for marketing), caps, max_segments, on_overflow, max_age, on_unknown, merge_missing, STOP clause and allowed_countries come from it.' }),
    schedule: scheduleSchema.meta({ description: 'When it runs. Daylight saving neither skips nor doubles a run: a time that does not exist (02:30 on the spring-forward night) runs once at 03:00, a time that exists twice runs once.' }),
    recipients: z.strictObject({
      group: z.string().min(1).meta({ description: 'A group declared under groups: in mail2sms.yaml, or all (the setup\'s own groups list is for senders of mail and does not limit automations).' }),
      where: z.record(FIELD_NAME, condition).optional().meta({ description: 'More conditions on contact fields, evaluated on the run\'s date in the automation\'s zone: team: U14, team: [A, B] (any of), birthday: {anniversary: true} (29 February falls on 28 February in other years), renewal: {within: 7d} (tomorrow to 7 days ahead), joined: {ago: 30d} (exactly 30 days before). Dates are YYYY-MM-DD; a contact without the field does not match.' }),
    }).meta({ description: 'Who gets it: a group, narrowed by conditions.' }),
    text: z.string().trim().min(1, 'is required').superRefine((text, ctx) => {
      const merge = parseMerge(text);
      if (!merge.ok) ctx.addIssue({ code: 'custom', message: `merge fields: ${merge.problem}` });
    }).meta({ description: 'The SMS; merge fields as in mail merge ({{first_name | default: "there"}}, {{number}}).' }),
    cooldown: durationOrOff().optional().meta({ description: 'This automation\'s interval per number, counted against every SMS of the organisation (any channel); off for none. Default: the setup\'s.' }),
    default_country: country.optional().meta({ description: 'Country of national numbers (contacts are stored E.164 when imported; this decides allowed_countries checks on the setup). Default: the setup\'s.' }),
    sending_window: sendingWindowSchema.optional().meta({ description: 'As in a setup: rows outside it wait for the next opening. Default: the setup\'s.' }),
    catch_up: durationOrOff().default(3_600_000).transform((ms) => ms ?? 0).meta({ description: 'After downtime the latest missed occurrence still goes if it is at most this late; older ones (and earlier ones superseded by it) are recorded as missed.' }),
    enabled: z.boolean().default(true).meta({ description: 'false: no scheduled runs (automations run still works by hand).' }),
    reply_to: emailAddress.optional().meta({
      description:
        'Where an SMS reply to this automation\'s SMS is emailed (with the setup\'s forward_replies on). Without it a reply to the automation is kept in the ledger and forwarded nowhere, never threaded under an older, unrelated mail to the same number.',
    }),
  });

export type AutomationFields = z.output<typeof automationSchema>;
export interface Automation extends AutomationFields {
  /** The file it came from, as shown in errors. */
  file: string;
}

/** What loadConfig needs from a parse: the value, the YAML as plain values when it parsed, and the issues located in the file. */
export type ParseFile = <S extends z.ZodType>(
  file: string,
  schema: S,
) => { value?: z.output<S>; raw?: unknown; issues: { file: string; line?: number; column?: number; field?: string; message: string }[] };
type Issue = ReturnType<ParseFile>['issues'][number];
type LineOf = (file: string, path: (string | number)[]) => { line?: number; column?: number };

/**
 * Every automation file in `dir` (a missing directory is no automations: the
 * key has a default), checked against the setups and groups of the config;
 * an invalid file's setup and group are checked too (a bad cron does not hide them).
 */
export function loadAutomations(
  dir: string,
  context: { declared: Declared; setupIds: readonly string[]; shown: (file: string) => string; parse: ParseFile; lineOf: LineOf; explicit: boolean; mainFile: string },
): { automations: Automation[]; issues: Issue[] } {
  const issues: Issue[] = [];
  const automations: Automation[] = [];
  const byId = new Map<string, Automation>();
  for (const name of automationFiles(dir, context, issues)) {
    const path = join(dir, name);
    const parsed = context.parse(path, automationSchema);
    issues.push(...parsed.issues);
    const at = (field: (string | number)[]) => ({ file: context.shown(path), ...context.lineOf(path, field), field: field.join('.') });
    if (!parsed.value) {
      const raw = isRecord(parsed.raw) ? parsed.raw : {};
      const group = isRecord(raw.recipients) ? raw.recipients.group : undefined;
      for (const problem of automationRefProblems(raw.setup, group, context.setupIds, context.declared)) issues.push({ ...at(problem.field), message: problem.message });
      continue;
    }
    const automation: Automation = { ...parsed.value, file: context.shown(path) };
    const twin = byId.get(automation.id);
    if (twin) {
      issues.push({ ...at(['id']), message: `automation id "${automation.id}" is also used by ${twin.file}` });
      continue;
    }
    const problems = automationRefProblems(automation.setup, automation.recipients.group, context.setupIds, context.declared);
    for (const problem of problems) issues.push({ ...at(problem.field), message: problem.message });
    byId.set(automation.id, automation);
    if (problems.length === 0) automations.push(automation);
  }
  return { automations, issues };
}

/** The *.yaml files of the directory; a missing default directory is none. */
function automationFiles(dir: string, context: { shown: (file: string) => string; explicit: boolean; mainFile: string }, issues: Issue[]): string[] {
  try {
    if (statSync(dir).isDirectory()) return readdirSync(dir).filter((name) => /\.ya?ml$/i.test(name)).sort();
    issues.push({ file: context.mainFile, field: 'automations_dir', message: `${context.shown(dir)} is not a directory` });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' || context.explicit) issues.push({ file: context.mainFile, field: 'automations_dir', message: `cannot read ${context.shown(dir)}: ${code ?? String(error)}` });
  }
  return [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
