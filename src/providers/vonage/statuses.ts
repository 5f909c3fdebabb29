import type { StatusTable } from '../adapter-kit.js';

/*
 * Vonage SMS API statuses and codes, as data: the docs print them.
 * https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts
 * https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms
 */

/** The `status` of a delivery receipt. */
export const VONAGE_STATUSES: StatusTable = [
  { provider: 'accepted', ours: 'sent', meaning: 'Accepted by the carrier, not yet delivered' },
  { provider: 'buffered', ours: 'sent', meaning: 'Held by the carrier, to be retried' },
  { provider: 'delivered', ours: 'delivered', meaning: 'Delivered to the handset' },
  { provider: 'expired', ours: 'expired', meaning: 'Not delivered within its validity period' },
  { provider: 'failed', ours: 'failed', meaning: 'The carrier could not deliver it (err-code says why)' },
  { provider: 'rejected', ours: 'rejected', meaning: 'Refused by Vonage or the carrier (err-code says why)' },
  { provider: 'unknown', ours: 'unknown', meaning: 'The carrier gave no usable status' },
];

/** The `err-code` of a delivery receipt. */
export const VONAGE_DLR_ERRORS: Readonly<Record<string, string>> = {
  '0': 'delivered',
  '1': 'unknown',
  '2': 'absent subscriber (temporary)',
  '3': 'absent subscriber (permanent)',
  '4': 'call barred by user',
  '5': 'portability error',
  '6': 'anti-spam rejection',
  '7': 'handset busy',
  '8': 'network error',
  '9': 'illegal number',
  '10': 'illegal message',
  '11': 'unroutable',
  '12': 'destination unreachable',
  '13': 'subscriber age restriction',
  '14': 'number blocked by carrier',
  '15': 'prepaid insufficient funds',
  '16': 'gateway quota exceeded',
  '50': 'entity filter',
  '51': 'header filter',
  '52': 'content filter',
  '53': 'consent filter',
  '54': 'regulation error',
  '99': 'general error',
};

/** The `status` of each message in a send's answer (HTTP 200 either way); '0' is success. */
export const VONAGE_SEND_STATUSES: Readonly<Record<string, { temporary: boolean; meaning: string }>> = {
  '1': { temporary: true, meaning: 'throttled' },
  '2': { temporary: false, meaning: 'missing parameters' },
  '3': { temporary: false, meaning: 'invalid parameters' },
  '4': { temporary: false, meaning: 'invalid credentials' },
  '5': { temporary: true, meaning: 'internal error' },
  '6': { temporary: false, meaning: 'invalid message' },
  '7': { temporary: false, meaning: 'number barred' },
  '8': { temporary: false, meaning: 'partner account barred' },
  '9': { temporary: true, meaning: 'partner quota violation (out of credit)' },
  '10': { temporary: true, meaning: 'too many existing binds' },
  '11': { temporary: false, meaning: 'account not enabled for HTTP' },
  '12': { temporary: false, meaning: 'message too long' },
  '14': { temporary: false, meaning: 'invalid signature' },
  '15': { temporary: false, meaning: 'invalid sender address' },
  '22': { temporary: false, meaning: 'invalid network code' },
  '23': { temporary: false, meaning: 'invalid callback URL' },
  '29': { temporary: false, meaning: 'non-whitelisted destination (demo account)' },
  '32': { temporary: false, meaning: 'signature and API secret disallowed' },
  '33': { temporary: false, meaning: 'number de-activated' },
};
