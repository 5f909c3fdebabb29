import { z } from 'zod';

/*
 * JSON Schema of a config file, as an admin writes it (the input side of the
 * zod schema). Editors read it (config/setup.schema.json) and the configuration
 * reference (docs/configuration-reference.md) is rendered from it, so both say
 * what the schema says. zod leaves out the defaults of values it transforms
 * (a duration's default is in milliseconds): they are written back here in the
 * form a config file would use (`10m`, `1MB`, `off`).
 */

/** The meta key that marks how a value type is written; set on the input side of durations and sizes. */
export const UNIT_KEY = 'x-unit';
export type Unit = 'duration' | 'size';

export function configJsonSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const def = ctx.zodSchema._zod.def;
      if (def.type !== 'default' || ctx.jsonSchema.default !== undefined) return;
      const written = writtenDefault((def as z.core.$ZodDefaultDef).defaultValue, unitOf(ctx.zodSchema));
      if (written !== undefined) ctx.jsonSchema.default = written;
    },
  }) as Record<string, unknown>;
}

/** The unit a default's value is in: found on the input side of the transforms it wraps. */
function unitOf(schema: z.core.$ZodType): Unit | undefined {
  let node: z.core.$ZodType | undefined = schema;
  for (let depth = 0; node && depth < 10; depth++) {
    const unit = z.globalRegistry.get(node as z.ZodType)?.[UNIT_KEY];
    if (unit === 'duration' || unit === 'size') return unit;
    const def: z.core.$ZodTypeDef & { innerType?: z.core.$ZodType; in?: z.core.$ZodType } = node._zod.def;
    node = def.innerType ?? def.in;
  }
  return undefined;
}

/** A default as a config file would write it; undefined for objects whose keys carry their own defaults. */
function writtenDefault(value: unknown, unit: Unit | undefined): unknown {
  if (unit === 'duration') return value === null ? 'off' : typeof value === 'number' ? formatDuration(value) : undefined;
  if (unit === 'size') return typeof value === 'number' ? formatSize(value) : undefined;
  if (Array.isArray(value)) return value.length === 0 ? [] : undefined;
  if (value !== null && typeof value === 'object') return Object.keys(value).length === 0 ? {} : undefined;
  return value === null ? undefined : value;
}

const DURATION_UNITS: [string, number][] = [['w', 604_800_000], ['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]];

/** 600000 → `10m`, 5400000 → `1h30m`: the largest units that add up exactly. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const [name, size] of DURATION_UNITS) {
    if (name === 'w' && rest % size !== 0) continue; // 10d reads better than 1w3d
    const count = Math.floor(rest / size);
    if (count > 0) {
      text += `${count}${name}`;
      rest -= count * size;
    }
  }
  return text;
}

/** 1048576 → `1MB`, 1024 → `1KB`, other byte counts as they are. */
export function formatSize(bytes: number): string {
  if (bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2}MB`;
  if (bytes % 1024 === 0) return `${bytes / 1024}KB`;
  return String(bytes);
}
