import { spf } from 'mailauth/lib/spf/index.js';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { getAlignment } from 'mailauth/lib/tools.js';
import { refusal, type Refusal } from '../core/errors.js';

/*
 * SPF (at MAIL FROM, for the envelope sender) and DKIM (after DATA, aligned
 * with the header From, which must itself belong to the envelope sender's
 * domain) through mailauth. DNS goes through `resolver` so tests can answer it;
 * every check has a timeout, and a DNS failure is "try again later", never a pass.
 */

export type DnsResolver = (name: string, type: string) => Promise<unknown>;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]);
}

const domainOf = (address: string) => address.slice(address.lastIndexOf('@') + 1).toLowerCase();

export async function checkSpf(options: {
  sender: string;
  ip: string;
  helo: string;
  hostname: string;
  resolver: DnsResolver | undefined;
  timeoutMs: number;
}): Promise<Refusal | undefined> {
  let result;
  try {
    result = await withTimeout(
      spf({ sender: options.sender, ip: options.ip, helo: options.helo, mta: options.hostname, ...(options.resolver ? { resolver: options.resolver } : {}) }),
      options.timeoutMs,
      'SPF check',
    );
  } catch (error) {
    return refusal('dns_temporary', `SPF could not be checked (${(error as Error).message}); try again later`);
  }
  const outcome = result.status.result;
  if (outcome === 'pass') return undefined;
  if (outcome === 'temperror') return refusal('dns_temporary', `SPF could not be checked for ${domainOf(options.sender)}; try again later`);
  return refusal('spf_failed', `SPF ${outcome} for <${options.sender}> from ${options.ip}; this sender requires SPF pass`);
}

export async function checkDkim(options: {
  raw: Buffer;
  envelopeSender: string;
  resolver: DnsResolver | undefined;
  timeoutMs: number;
}): Promise<Refusal | undefined> {
  let result;
  try {
    result = await withTimeout(dkimVerify(options.raw, { ...(options.resolver ? { resolver: options.resolver } : {}) }), options.timeoutMs, 'DKIM check');
  } catch (error) {
    return refusal('dns_temporary', `DKIM could not be checked (${(error as Error).message}); try again later`);
  }
  const from = result.headerFrom && result.headerFrom.length === 1 ? (result.headerFrom[0] as string) : undefined;
  if (!from) return refusal('dkim_failed', 'DKIM: the message needs exactly one From address');
  const fromDomain = domainOf(from);
  if (!getAlignment(fromDomain, [domainOf(options.envelopeSender)])) {
    return refusal('dkim_failed', `DKIM: the From domain ${fromDomain} does not belong to the envelope sender <${options.envelopeSender}>`);
  }
  const passing = result.results.find((r) => r.status.result === 'pass' && r.status.aligned);
  if (passing) return undefined;
  if (result.results.some((r) => r.status.result === 'temperror')) return refusal('dns_temporary', 'DKIM key could not be fetched; try again later');
  const seen = result.results
    .filter((r) => r.status.result !== 'none') // mailauth's entry for "no signature"
    .map((r) => `${r.signingDomain ?? '?'}: ${r.status.result}`)
    .join(', ');
  return refusal('dkim_failed', `DKIM: no passing signature aligned with ${fromDomain}${seen ? ` (${seen})` : ' (the message is not signed)'}`);
}
