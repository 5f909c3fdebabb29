import { consoleHref, html, type Html, type Interpolation } from './html.js';

/*
 * The page around every console page: navigation, search, who is reading.
 * No script anywhere; the only forms are the search (GET) and the login.
 */

export type Section = 'overview' | 'queue' | 'setups' | 'search';

export interface Reader {
  name: string;
  pii: boolean;
}

const NAV: [Section, string, string][] = [
  ['overview', 'Overview', '/console/'],
  ['queue', 'Queue', '/console/queue'],
  ['setups', 'Setups', '/console/setups'],
];

function shell(title: string, body: Interpolation, header: Interpolation): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title} · mail2sms</title>
<link rel="stylesheet" href="/console/style.css"></head>
<body>${header}<main>${body}</main></body></html>`;
}

export function page(options: { title: string; section?: Section; reader: Reader; body: Interpolation; query?: string }): Html {
  const nav = NAV.map(([section, label, href]) => html`<a href="${href}"${section === options.section ? html` aria-current="page"` : ''}>${label}</a>`);
  const header = html`<header><a class="brand" href="/console/">mail2sms</a><nav>${nav}</nav>
<form method="get" action="/console/search" role="search"><input name="q" value="${options.query ?? ''}" placeholder="number, queue id or ref" aria-label="search" size="26"><button type="submit">Search</button></form>
<span class="who">${options.reader.name} · ${options.reader.pii ? 'full numbers and texts' : 'numbers masked'}</span></header>`;
  return shell(options.title, html`<h1>${options.title}</h1>${options.body}`, header);
}

export function loginPage(message?: string): Html {
  const body = html`<form class="login" method="post" action="/console/login">
<h1>mail2sms console</h1>
${message ? html`<p class="notice">${message}</p>` : ''}
<label for="token">API token (from <code>mail2sms token</code>, with the <code>console</code> scope)</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus>
<button type="submit">Log in</button></form>`;
  return shell('Log in', body, html`<header><span class="brand">mail2sms</span></header>`);
}

export const iso = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'));

export function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

export const statusBadge = (status: string): Html => html`<span class="status status-${status}">${status}</span>`;

export const mailLink = (queueId: string): Html => html`<a class="mono" href="${consoleHref(['mails', queueId])}">${queueId}</a>`;

/** A table from a header row and rows of cells; an empty list says so instead. */
export function table(head: readonly string[], rows: readonly Interpolation[][], empty = 'nothing'): Html {
  if (rows.length === 0) return html`<p class="muted">${empty}</p>`;
  return html`<table><thead><tr>${head.map((h) => html`<th>${h}</th>`)}</tr></thead>
<tbody>${rows.map((cells) => html`<tr>${cells.map((c) => html`<td>${c}</td>`)}</tr>`)}</tbody></table>`;
}
