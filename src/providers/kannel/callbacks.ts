import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIPv4 } from 'node:net';
import type { SourceNetwork } from '../../config/provider-kannel.js';
import { toE164 } from '../classify.js';
import type { InboundParse, ReceiptParse } from '../types.js';
import { errorCodeOfAnswer, outcomeOfDlr } from './status.js';

/*
 * Kannel's callbacks are plain GETs it fills from a URL pattern: the dlr-url
 * we hand it with each SMS, and the get-url of an sms-service for inbound SMS.
 * It signs nothing, so what proves a callback came from our Kannel is the
 * token in that URL (and, optionally, where the call comes from). The route
 * hands the raw query string to the parsers below as the "body".
 */

/** The query parameters our dlr-url asks Kannel to fill (see dlrUrl). */
export const DLR_FIELDS = { id: 'id', type: 'type', answer: 'answer', time: 'ts', token: 'token' } as const;

/** The get-url an sms-service needs for inbound SMS (the docs print it): every field our parser reads. */
export function inboundGetUrl(base: string, token: string): string {
  return `${base}?from=%p&to=%P&text=%b&charset=%C&coding=%c&id=%I&ts=%T&token=${token}`;
}

/** The dlr-url for one SMS: Kannel replaces %d (type), %A (the SMSC's answer) and %T (time); the id is ours. */
export function dlrUrl(callbackUrl: string, providerMessageId: string, token: string): string {
  const url = new URL(callbackUrl);
  url.searchParams.set(DLR_FIELDS.id, providerMessageId);
  const filled = `${DLR_FIELDS.type}=%d&${DLR_FIELDS.answer}=%A&${DLR_FIELDS.time}=%T&${DLR_FIELDS.token}=${token}`;
  return `${url.href}&${filled}`;
}

/** A constant-time token check; comparing digests keeps the time independent of the length too. */
export function createTokenCheck(expected: string): (given: string | null) => 'missing' | 'bad_token' | undefined {
  const want = createHash('sha256').update(expected, 'utf8').digest();
  return (given) => {
    if (given === null || given === '') return 'missing';
    const got = createHash('sha256').update(given, 'utf8').digest();
    return timingSafeEqual(want, got) ? undefined : 'bad_token';
  };
}

/** True when the callback's source address may call (any, without an allow-list). */
export function createSourceCheck(networks: readonly SourceNetwork[] | undefined): (remoteAddress: string | undefined) => boolean {
  if (!networks) return () => true;
  const list = new BlockList();
  for (const network of networks) list.addSubnet(network.address, network.prefix, network.family);
  return (remoteAddress) => {
    if (!remoteAddress) return false;
    const ip = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress)?.[1] ?? remoteAddress;
    return list.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6');
  };
}

/**
 * A query string's raw values (still percent-encoded), so a text can be
 * decoded in the charset Kannel names rather than as UTF-8.
 */
function rawParams(query: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const pair of query.replace(/^\?/, '').split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeForm(eq === -1 ? pair : pair.slice(0, eq), 'utf-8');
    if (!params.has(name)) params.set(name, eq === -1 ? '' : pair.slice(eq + 1));
  }
  return params;
}

/** Kannel's url-encoding (`+` for space, %XX for bytes) decoded as `charset`. */
function decodeForm(raw: string, charset: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x2b) bytes.push(0x20);
    else if (c === 0x25 && /^[0-9A-Fa-f]{2}$/.test(raw.slice(i + 1, i + 3))) {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(raw[i] as string, 'utf8'));
  }
  return new TextDecoder(charset).decode(Uint8Array.from(bytes));
}

/** `%C` as a WHATWG encoding label: Kannel says UTF-8, UTF-16BE (UCS-2 left as is) or a legacy charset. */
function encodingOf(kannelCharset: string | undefined, coding: string | undefined): string {
  const label = (kannelCharset ?? '').trim().toLowerCase();
  if (label === '' || label === '8-bit') return coding === '2' ? 'utf-16be' : 'utf-8';
  try {
    return new TextDecoder(label).encoding;
  } catch {
    return 'utf-8';
  }
}

type Refusal = { ok: false; status: 400 | 403; reason: string };

function refuseToken(params: Map<string, string>, checkToken: ReturnType<typeof createTokenCheck>): Refusal | undefined {
  const raw = params.get(DLR_FIELDS.token);
  const problem = checkToken(raw === undefined ? null : decodeForm(raw, 'utf-8'));
  return problem ? { ok: false, status: 403, reason: problem } : undefined;
}

/** Epoch seconds (Kannel's %T) as epoch ms; undefined when absent or not a time. */
function epochMs(raw: string | undefined): number | undefined {
  return raw !== undefined && /^\d{1,12}$/.test(raw) && Number(raw) > 0 ? Number(raw) * 1000 : undefined;
}

/** A delivery report as our dlr-url brought it back. */
export function parseDlr(query: string, checkToken: ReturnType<typeof createTokenCheck>): ReceiptParse {
  const params = rawParams(query);
  const refused = refuseToken(params, checkToken);
  if (refused) return refused;
  const id = decodeForm(params.get(DLR_FIELDS.id) ?? '', 'utf-8');
  const typeText = params.get(DLR_FIELDS.type) ?? '';
  if (!id || !/^\d{1,3}$/.test(typeText)) return { ok: false, status: 400, reason: `a delivery report needs ${DLR_FIELDS.id} and ${DLR_FIELDS.type} (Kannel's %d)` };
  const answer = decodeForm(params.get(DLR_FIELDS.answer) ?? '', 'utf-8');
  const status = outcomeOfDlr(Number(typeText), answer);
  if (!status) return { ok: false, status: 400, reason: `Kannel DLR type ${typeText} is not one we know (1, 2, 4, 8, 16)` };
  if (status === 'sent') return { ok: true, progress: { providerMessageId: id, detail: `kannel DLR ${typeText}${answer ? `: ${answer}` : ''}` } };
  const errorCode = errorCodeOfAnswer(answer);
  const timestamp = epochMs(params.get(DLR_FIELDS.time));
  return {
    ok: true,
    receipt: {
      providerMessageId: id,
      status,
      ...(errorCode !== undefined ? { errorCode } : {}),
      ...(timestamp !== undefined ? { providerTimestamp: timestamp } : {}),
      rawBody: query,
    },
  };
}

/** An inbound SMS as an sms-service get-url (inboundGetUrl) brought it. */
export function parseMo(query: string, checkToken: ReturnType<typeof createTokenCheck>, nowMs: number): InboundParse {
  const params = rawParams(query);
  const refused = refuseToken(params, checkToken);
  if (refused) return refused;
  const field = (name: string) => decodeForm(params.get(name) ?? '', 'utf-8');
  const id = field('id');
  const rawFrom = field('from');
  const text = params.get('text');
  if (!id || !rawFrom || text === undefined) return { ok: false, status: 400, reason: 'an inbound SMS needs id (%I), from (%p) and text (%b)' };
  const from = toE164(rawFrom);
  if (!from) return { ok: false, status: 400, reason: 'the sender (%p) is not an international number: set unified-prefix on the smsc group' };
  const decoded = decodeForm(text, encodingOf(params.has('charset') ? field('charset') : undefined, params.get('coding')));
  return { ok: true, inbound: { providerId: id, from, to: field('to'), text: decoded, receivedAt: epochMs(params.get('ts')) ?? nowMs } };
}
