import { z } from 'zod';
import { parseDuration } from '../core/units.js';
import { UNIT_KEY } from './json-schema.js';

/*
 * Value types shared by every config block (main file, setups, notify): each
 * parses once at the edge and says in the admin's words what is wrong.
 */

function readDuration(value: string | number | boolean, allowOff: boolean, ctx: z.RefinementCtx): number | null {
  if (allowOff && (value === 'off' || value === false)) return null;
  const parsed = typeof value === 'string' ? parseDuration(value) : undefined;
  if (parsed === undefined || parsed <= 0) {
    ctx.addIssue({ code: 'custom', message: `"${String(value)}" is not a duration (use e.g. 30s, 10m, 24h, 7d${allowOff ? ', or off' : ''})` });
    return z.NEVER;
  }
  return parsed;
}

const durationInput = z.union([z.string(), z.number(), z.boolean()]).meta({ [UNIT_KEY]: 'duration' });
/** A positive duration such as `30s`, `10m`, `24h`. */
export const duration = () => durationInput.transform((value, ctx) => readDuration(value, false, ctx) as number);
/** A duration, or `off` (null). */
export const durationOrOff = () => durationInput.transform((value, ctx) => readDuration(value, true, ctx));

export const DOMAIN_RE = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
export const LOCAL_RE = /^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+$/i;

export const emailAddress = z
  .string()
  .transform((value) => value.trim().toLowerCase())
  .refine((value) => {
    const at = value.lastIndexOf('@');
    return at > 0 && LOCAL_RE.test(value.slice(0, at)) && DOMAIN_RE.test(value.slice(at + 1));
  }, { message: 'is not an email address' });


export type Env = Record<string, string | undefined>;

/**
 * The one rule for secrets in every config file: `${NAME}` references (the whole
 * value or part of it) are read from the environment when the config is loaded,
 * so the YAML can be committed without them. A missing variable is a config
 * error on this field that names the variable, never a value. Nothing logs the
 * config, so the expanded value stays out of logs.
 */
export const secretField = (env: Env = process.env) =>
  z.string().min(1).transform((value, ctx): string => {
    const missing: string[] = [];
    const expanded = value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const resolved = env[name];
      if (resolved === undefined || resolved === '') missing.push(name);
      return resolved ?? '';
    });
    if (missing.length > 0) {
      ctx.addIssue({ code: 'custom', message: `environment variable ${missing.join(', ')} is not set` });
      return z.NEVER;
    }
    return expanded;
  });

/**
 * A PostgreSQL connection URL (a secret: it carries the password). Checked
 * for its form only; the daemon connects at startup. The message never
 * repeats the value.
 */
export const postgresUrl = (env: Env = process.env) =>
  secretField(env).refine((value) => {
    try {
      const url = new URL(value);
      return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && (url.hostname !== '' || url.searchParams.has('host'));
    } catch {
      return false;
    }
  }, { message: 'is not a PostgreSQL URL (postgres://user:password@host:5432/database)' });
