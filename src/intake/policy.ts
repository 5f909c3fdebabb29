import { BlockList, isIPv4 } from 'node:net';
import type { Config } from '../config/load.js';
import type { SenderMatch } from '../config/match.js';
import type { Setup } from '../config/schema.js';
import { refusal, type Refusal } from '../core/errors.js';
import { parseRecipientNumber } from '../numbers/parse.js';
import type { TextPolicy } from '../message/text.js';
import type { ParseLimits } from '../message/parse-within-limits.js';
import type { RecipientRules } from '../ledger/rules.js';
import type { GroupSelector } from '../ledger/types.js';
import { checkGroupAddress, looksLikeGroup } from './groups.js';

/*
 * The intake rules as plain functions of (config, envelope): no sockets, no
 * smtp-server. src/smtp/server.ts calls them and turns refusals into replies.
 */

/** smtp-server reports IPv4 clients of a dual-stack socket as ::ffff:a.b.c.d. */
export function normaliseIp(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return mapped ? (mapped[1] as string) : ip;
}

const ipRules = new WeakMap<Setup, BlockList>();

function blockListFor(setup: Setup): BlockList | undefined {
  if (!setup.authorize.ip) return undefined;
  let list = ipRules.get(setup);
  if (!list) {
    list = new BlockList();
    for (const rule of setup.authorize.ip) list.addSubnet(rule.address, rule.prefix, rule.family);
    ipRules.set(setup, list);
  }
  return list;
}

/** What parsing one mail may cost (smtp.max_mime_*, max_html_*): the same for SMTP and explain. */
export function parseLimitsOf(config: Config): ParseLimits {
  const smtp = config.main.smtp;
  return { mime: { maxParts: smtp.max_mime_parts, maxDepth: smtp.max_mime_depth }, html: { maxDepth: smtp.max_html_depth, maxSize: smtp.max_html_size } };
}

/** A client in any setup's authorize.ip: it gets the capacity kept back by smtp.reserved_clients. */
export function isAuthorisedNetwork(config: Config, clientIp: string): boolean {
  const ip = normaliseIp(clientIp);
  const family = isIPv4(ip) ? 'ipv4' : 'ipv6';
  return config.setups.some((setup) => blockListFor(setup)?.check(ip, family) === true);
}

export type SenderVerdict = { ok: true; match: SenderMatch } | { ok: false; refusal: Refusal };

/**
 * MAIL FROM: which setup owns this sender, and may this client send as it.
 * Every rule the setup lists must hold: the client's network and, with
 * smtp_auth, a login as one of the setup's users.
 */
export function checkSender(config: Config, envelopeSender: string, clientIp: string, user?: string): SenderVerdict {
  const match = config.senders.match(envelopeSender);
  if (!match) return { ok: false, refusal: refusal('unknown_sender', `Sender <${envelopeSender}> is not allowed to send SMS here`) };
  const users = match.setup.authorize.smtp_auth;
  if (users) {
    if (user === undefined) return { ok: false, refusal: refusal('auth_required', `Authentication required to send as <${envelopeSender}>`) };
    if (!users.some((u) => u.user === user)) {
      return { ok: false, refusal: refusal('sender_not_authorised', `User ${user} may not send as <${envelopeSender}>`) };
    }
  }
  const list = blockListFor(match.setup);
  if (list) {
    const ip = normaliseIp(clientIp);
    const allowed = list.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6');
    if (!allowed) {
      return {
        ok: false,
        refusal: refusal('sender_not_authorised', `Sender <${envelopeSender}> is not authorised from ${ip}`),
      };
    }
  }
  return { ok: true, match };
}

export type RecipientVerdict =
  | { ok: true; kind: 'sms'; e164: string }
  | { ok: true; kind: 'group'; name: string; selector: GroupSelector }
  | { ok: true; kind: 'postmaster' }
  | { ok: false; refusal: Refusal };

/**
 * RCPT TO: only our SMS domains (never an open relay), postmaster per RFC 5321,
 * and a local part that is a valid number. `setup` is undefined for the null
 * sender, whose recipients are checked for relaying only.
 */
export function checkRecipient(config: Config, setup: Setup | undefined, address: string): RecipientVerdict {
  const at = address.lastIndexOf('@');
  const local = at === -1 ? address : address.slice(0, at);
  const domain = at === -1 ? '' : address.slice(at + 1).toLowerCase();
  if (at === -1 && local.toLowerCase() === 'postmaster') return { ok: true, kind: 'postmaster' };
  if (!config.main.sms_domains.includes(domain)) {
    return { ok: false, refusal: refusal('relay_denied', `Relaying denied: ${domain || 'a local address'} is not an SMS domain of this gateway`) };
  }
  if (local.toLowerCase() === 'postmaster') return { ok: true, kind: 'postmaster' };
  if (!setup) return { ok: true, kind: 'sms', e164: local };
  if (looksLikeGroup(config, local)) {
    const group = checkGroupAddress(config, setup, local);
    return group.ok ? { ok: true, kind: 'group', name: group.name, selector: group.selector } : group;
  }
  const number = parseRecipientNumber(local, setup.default_country);
  if (!number.ok) {
    return { ok: false, refusal: refusal(number.reason, `${number.detail}; address SMS as +<country code><number>@${domain}`) };
  }
  if (setup.allowed_countries && !(number.country && setup.allowed_countries.includes(number.country))) {
    return {
      ok: false,
      refusal: refusal('country_not_allowed', `${number.e164} is in ${number.country ?? 'no single country'}; this sender may only send to ${setup.allowed_countries.join(', ')}`),
    };
  }
  return { ok: true, kind: 'sms', e164: number.e164 };
}

/** The organisation's recipient rules for one setup, in the form the ledger checks them. */
export function rulesFor(config: Config, setup: Setup): RecipientRules {
  const purpose = setup.category === 'marketing' && setup.purpose !== undefined ? setup.purpose : null;
  return {
    setupId: setup.id,
    cooldownMs: setup.cooldown,
    purpose: purpose === null ? null : { name: purpose, maxSilenceMs: config.main.consent.purposes[purpose]?.max_silence ?? null },
    dailyLimit: setup.daily_limit ?? null,
    numberDailyLimit: config.main.limits.per_number_daily,
  };
}

/** The setup's text rules in the form src/message takes them. */
export function textPolicyFor(setup: Setup, stop: { text: string; detect: readonly string[] } = { text: 'Reply STOP to opt out', detect: ['STOP'] }): TextPolicy {
  const clauseText = setup.opt_out_text ?? stop.text;
  return {
    // Marketing SMS carry an opt-out text unless the body has one already.
    ...(setup.category === 'marketing' ? { stopClause: { text: clauseText, detect: [...stop.detect, clauseText] } } : {}),
    source: setup.text,
    separator: setup.text_separator,
    cutMarkers: setup.cut_markers,
    transliterate: setup.transliterate,
    maxSegments: setup.max_segments,
    onOverflow: setup.on_overflow,
    suffix: '',
  };
}
