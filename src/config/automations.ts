import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { scheduleProblem } from '../core/cron.js';
import { sendingWindowSchema } from '../core/window.js';
import { parseMerge } from '../message/merge.js';
import { duration, durationOrOff } from './fields.js';
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
    $schema: z.string().optional(),
    id: z.string().regex(AUTOMATION_ID, 'must be lower-case letters, digits, - and _ (at most 64), starting with a letter or digit'),
    title: z.string().trim().min(1, 'is required'),
    setup: z.string().min(1),
    schedule: scheduleSchema,
    recipients: z.strictObject({
      group: z.string().min(1),
      where: z.record(FIELD_NAME, condition).optional(),
    }),
    text: z.string().trim().min(1, 'is required').superRefine((text, ctx) => {
      const merge = parseMerge(text);
      if (!merge.ok) ctx.addIssue({ code: 'custom', message: `merge fields: ${merge.problem}` });
    }),
    cooldown: durationOrOff().optional(),
    default_country: country.optional(),
    sending_window: sendingWindowSchema.optional(),
    catch_up: durationOrOff().default(3_600_000).transform((ms) => ms ?? 0),
    enabled: z.boolean().default(true),
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
