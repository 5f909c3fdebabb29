import type { StatusTable } from '../adapter-kit.js';

/*
 * GatewayAPI's delivery statuses (DSN), as data: the docs print them.
 * https://gatewayapi.com/docs/apis/rest/#delivery-status-notification
 */

export const GATEWAYAPI_STATUSES: StatusTable = [
  { provider: 'UNKNOWN', ours: 'unknown', meaning: 'Where every message starts; should not be reported' },
  { provider: 'SCHEDULED', ours: 'sent', meaning: 'Scheduled for a later send time' },
  { provider: 'BUFFERED', ours: 'sent', meaning: 'In GatewayAPI\'s queue for the mobile network' },
  { provider: 'ENROUTE', ours: 'sent', meaning: 'Sent to the mobile network, on its way' },
  { provider: 'DELIVERED', ours: 'delivered', meaning: 'The handset confirmed delivery' },
  { provider: 'ACCEPTED', ours: 'delivered', meaning: 'The mobile network accepted it on the user\'s behalf (final)' },
  { provider: 'EXPIRED', ours: 'expired', meaning: 'Not delivered within its validity period' },
  { provider: 'DELETED', ours: 'failed', meaning: 'Canceled' },
  { provider: 'UNDELIVERABLE', ours: 'failed', meaning: 'Permanently undeliverable (most likely an invalid number)' },
  { provider: 'REJECTED', ours: 'rejected', meaning: 'The mobile network refused it' },
  { provider: 'SKIPPED', ours: 'rejected', meaning: 'Deliberately not sent under network-specific rules' },
];

/**
 * How old a status or MO webhook may be (its `time` / `senttime`). GatewayAPI
 * retries a failed webhook after 1, 2 and 6 minutes, 24 minutes, 2 hours and
 * 12 hours (about 14.5 hours in all): anything older is a replay.
 */
export const GATEWAYAPI_MAX_AGE_MS = 24 * 3_600_000;
