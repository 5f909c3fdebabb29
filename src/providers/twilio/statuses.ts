import type { StatusTable } from '../adapter-kit.js';

/*
 * Twilio's message statuses and the error codes we name, as data: the docs
 * print them. https://www.twilio.com/docs/messaging/api/message-resource#message-status-values
 */

export const TWILIO_STATUSES: StatusTable = [
  { provider: 'accepted', ours: 'sent', meaning: 'A Messaging Service took the request and is choosing a sender' },
  { provider: 'scheduled', ours: 'sent', meaning: 'Scheduled for later (we never schedule at Twilio)' },
  { provider: 'queued', ours: 'sent', meaning: 'Queued at Twilio to go to the carrier' },
  { provider: 'sending', ours: 'sent', meaning: 'Being handed to the carrier' },
  { provider: 'sent', ours: 'sent', meaning: 'The carrier took it; no delivery report yet' },
  { provider: 'delivered', ours: 'delivered', meaning: 'The carrier reports it delivered to the handset' },
  { provider: 'read', ours: 'delivered', meaning: 'Read (channels with read receipts)' },
  { provider: 'undelivered', ours: 'failed', meaning: 'The carrier could not deliver it (ErrorCode says why)' },
  { provider: 'partially_delivered', ours: 'failed', meaning: 'Only some parts arrived' },
  { provider: 'failed', ours: 'rejected', meaning: 'Twilio could not send it at all (ErrorCode says why)' },
  { provider: 'canceled', ours: 'rejected', meaning: 'Canceled before it was sent' },
];

/** Twilio's opt-out refusal: the recipient replied STOP to this sender (or service) at Twilio. */
export const TWILIO_OPTED_OUT = '21610';

/** Error codes we name in reasons (https://www.twilio.com/docs/api/errors); others are quoted as Twilio words them. */
export const TWILIO_ERRORS: Readonly<Record<string, string>> = {
  '20003': 'authentication failed (account SID, auth token or API key)',
  '20429': 'too many requests',
  '21211': 'invalid To number',
  '21408': 'no permission to send to this region (Geo permissions)',
  '21606': 'the From number cannot send SMS',
  '21610': 'the recipient opted out at Twilio (replied STOP); Twilio refuses every SMS to it from this sender',
  '21612': 'Twilio cannot route to this number',
  '21614': 'the To number is not a mobile number',
  '30001': 'queue overflow',
  '30002': 'account suspended',
  '30003': 'unreachable handset',
  '30004': 'message blocked',
  '30005': 'unknown handset',
  '30006': 'landline or unreachable carrier',
  '30007': 'filtered by the carrier',
  '30008': 'unknown error',
  '30010': 'price exceeds the max price',
};
