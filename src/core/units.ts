/** Parsers for the human units used in YAML: durations, sizes, listen addresses. */

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** "90s", "10m", "24h", "1h30m", "7d" → milliseconds; undefined when malformed. */
export function parseDuration(input: string): number | undefined {
  const text = input.trim().toLowerCase();
  if (!/^(\d+(ms|s|m|h|d|w))+$/.test(text)) return undefined;
  let total = 0;
  for (const match of text.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) {
    total += Number(match[1]) * (DURATION_UNITS[match[2] as string] as number);
  }
  return total;
}

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3, g: 1024 ** 3 };

/** "1MB", "512KB", "2048" → bytes; undefined when malformed. */
export function parseSize(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isInteger(input) && input > 0 ? input : undefined;
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g)?$/i.exec(input.trim());
  if (!match) return undefined;
  const unit = SIZE_UNITS[(match[2] ?? 'b').toLowerCase()] as number;
  return Math.floor(Number(match[1]) * unit);
}

export interface ListenAddress {
  host: string;
  port: number;
}

/** "127.0.0.1:2525", "[::1]:2525" → host and port; undefined when malformed. */
export function parseListen(input: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(input.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}

export function formatListen(address: ListenAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/**
 * A point in time as other systems report it: RFC 3339 / ISO 8601 with a zone
 * (a time without one would be read in this machine's zone), or epoch milliseconds.
 */
export function parseInstant(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) ? input : undefined;
  if (/^\d{10,}$/.test(input)) return Number(input);
  const ms = /(Z|[+-]\d\d:?\d\d)$/i.test(input) ? Date.parse(input) : Number.NaN;
  return Number.isNaN(ms) ? undefined : ms;
}
