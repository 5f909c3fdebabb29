import { ALL_GROUP, mainSchema, type MainConfig } from './schema.js';

/*
 * The checks across files (a setup's groups and purpose against the main
 * file, an automation's setup and group) run on what could be read, valid or
 * not: a type error in one file does not hide an undeclared group in another,
 * so check-config lists every problem in one pass.
 */

/** What a setup file names elsewhere, read from a valid setup or from the YAML of an invalid one. */
export interface SetupRefs {
  id: string;
  /** As shown in messages, and the path to find lines in. */
  file: string;
  path: string;
  groups: readonly unknown[];
  purpose?: unknown;
}

/** The names the main file declares; a part that cannot be read is undefined (and not checked against). */
export interface Declared {
  groups?: Readonly<Record<string, unknown>>;
  purposes?: readonly string[];
}

interface Issue {
  file: string;
  line?: number;
  column?: number;
  field?: string;
  message: string;
}
type LineOf = (file: string, path: (string | number)[]) => { line?: number; column?: number };

/** Groups and purposes from the valid main config, or from the readable parts of an invalid one. */
export function declaredOf(main: MainConfig | undefined, raw: unknown): Declared {
  if (main) return { groups: main.groups, purposes: Object.keys(main.consent.purposes) };
  // A main file that did not parse as YAML declares nothing we know of: nothing is checked against it.
  if (!isRecord(raw)) return {};
  const fields = raw;
  const groups = mainSchema.shape.groups.safeParse(fields.groups);
  const consent = fields.consent;
  const purposes = consent === undefined ? [] : isRecord(consent) && (consent.purposes === undefined || isRecord(consent.purposes)) ? Object.keys(consent.purposes ?? {}) : undefined;
  return { ...(groups.success ? { groups: groups.data } : {}), ...(purposes ? { purposes } : {}) };
}

/** What an invalid setup's YAML still says about its id, groups and purpose. */
export function setupRefsOf(raw: unknown, fallbackId: string, file: string, path: string): SetupRefs {
  const fields = isRecord(raw) ? raw : {};
  return { id: typeof fields.id === 'string' ? fields.id : fallbackId, file, path, groups: Array.isArray(fields.groups) ? fields.groups : [], purpose: fields.purpose };
}

export function undeclaredPurposes(setups: readonly SetupRefs[], declared: Declared, mainFile: string, lineOf: LineOf): Issue[] {
  const purposes = declared.purposes;
  if (!purposes) return [];
  return setups
    .filter((setup) => typeof setup.purpose === 'string' && !purposes.includes(setup.purpose))
    .map((setup) => ({
      file: setup.file,
      ...lineOf(setup.path, ['purpose']),
      field: 'purpose',
      message: `purpose "${String(setup.purpose)}" is not declared under consent.purposes in ${mainFile}${purposes.length ? ` (declared: ${purposes.join(', ')})` : ' (none are)'}`,
    }));
}

/** A setup may only list groups the main file declares (or `all`): a typo never silently addresses nobody. */
export function undeclaredGroups(setups: readonly SetupRefs[], declared: Declared, mainFile: string, lineOf: LineOf): Issue[] {
  const groups = declared.groups;
  if (!groups) return [];
  const issues: Issue[] = [];
  for (const setup of setups) {
    setup.groups.forEach((name, i) => {
      if (typeof name !== 'string' || isDeclaredGroup(name, groups)) return;
      issues.push({ file: setup.file, ...lineOf(setup.path, ['groups', i]), field: `groups.${i}`, message: `group "${name}" is not declared under groups: in ${mainFile} (${declaredText(groups)})` });
    });
  }
  return issues;
}

/** An automation's setup and group (read even when the rest of the file is invalid) must exist. */
export function automationRefProblems(setupId: unknown, group: unknown, setupIds: readonly string[], declared: Declared): { field: string[]; message: string }[] {
  const problems: { field: string[]; message: string }[] = [];
  if (typeof setupId === 'string' && setupId !== '' && !setupIds.includes(setupId)) {
    problems.push({ field: ['setup'], message: `no setup "${setupId}" (setups: ${setupIds.join(', ') || 'none'})` });
  }
  const groups = declared.groups;
  if (groups && typeof group === 'string' && group !== '' && !isDeclaredGroup(group, groups)) {
    problems.push({ field: ['recipients', 'group'], message: `group "${group}" is not declared under groups: (${declaredText(groups)})` });
  }
  return problems;
}

const isDeclaredGroup = (name: string, groups: Readonly<Record<string, unknown>>) => name === ALL_GROUP || Object.hasOwn(groups, name);

function declaredText(groups: Readonly<Record<string, unknown>>): string {
  const declared = Object.keys(groups);
  return `declared: ${declared.length ? declared.join(', ') : 'none'}; "all" is built in`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
