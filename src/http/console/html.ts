/*
 * HTML built safely by construction: `html` is a tagged template in which
 * every interpolated value is escaped unless it is itself Html built by this
 * module. No page writes markup by string concatenation, so a number, a
 * reason or an SMS text that looks like HTML is shown as text.
 */

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for element content and for double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] as string);
}

/** Markup that is already safe: only `html` and `joinHtml` make it. */
export class Html {
  #text: string;
  constructor(text: string, token: typeof BUILT) {
    if (token !== BUILT) throw new Error('Html is only made by the html template');
    this.#text = text;
  }
  toString(): string {
    return this.#text;
  }
}
const BUILT = Symbol('html');

export type Interpolation = Html | string | number | boolean | null | undefined | readonly Interpolation[];

function render(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.toString();
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return new Html(out, BUILT);
}

/**
 * A path segment for a console link: percent-encoded (so `/`, `?`, `#` and
 * quotes cannot leave the segment), except `+`, which E.164 numbers start with
 * and which is literal in a path.
 */
export function segment(value: string): string {
  return encodeURIComponent(value).replace(/%2B/g, '+');
}

/** A console URL from its path segments and query; every part encoded. */
export function consoleHref(segments: readonly string[], query: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams(Object.entries(query).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const search = params.toString();
  return `/console/${segments.map(segment).join('/')}${search ? `?${search}` : ''}`;
}
