import type { OurStatus, StatusTable } from '../adapter-kit.js';

/*
 * inMobile's message states and error codes (API v4, StatusReport.deliveryInfo),
 * as data: the docs print them. https://api.inmobile.com/docs/ (MessageStateCode, ErrorCode)
 */

/** deliveryInfo.stateCode. */
export const INMOBILE_STATES: StatusTable = [
  { provider: '0', ours: 'unknown', meaning: 'Unknown: no final state yet' },
  { provider: '1', ours: 'delivered', meaning: 'Delivered' },
  { provider: '-1', ours: 'failed', meaning: 'Failed (errorCode says why; some codes refine the status below)' },
  { provider: '-2', ours: 'rejected', meaning: 'Cancelled by inMobile before it was sent (errorCode says why)' },
];

/** deliveryInfo.errorCode, with the status it gives when it refines the state's. */
export const INMOBILE_ERRORS: Readonly<Record<string, { meaning: string; ours?: OurStatus }>> = {
  '-1': { meaning: 'undeliverable message' },
  '-2': { meaning: 'msisdn blacklisted by operator', ours: 'rejected' },
  '-3': { meaning: 'invalid mobile number', ours: 'rejected' },
  '-4': { meaning: 'country not available', ours: 'rejected' },
  '-5': { meaning: 'delivery timeout', ours: 'expired' },
  '-6': { meaning: 'not delivered, removed from gateway' },
  '-8': { meaning: 'insufficient funds', ours: 'rejected' },
  '-14': { meaning: 'sender name blocked', ours: 'rejected' },
  '-15': { meaning: 'route not available', ours: 'rejected' },
  '-22': { meaning: 'delivery timeout before sent', ours: 'expired' },
  '-23': { meaning: 'message queue full at operator' },
  '-99': { meaning: 'submit failed' },
  '-100': { meaning: 'communication error' },
  '-101': { meaning: 'unknown id' },
  '-102': { meaning: 'cancelled' },
  '-103': { meaning: 'unknown error processing message' },
  '-104': { meaning: 'unknown id at operator' },
  '-105': { meaning: 'msisdn blacklisted on account', ours: 'rejected' },
  '-106': { meaning: 'mobile number cooldown', ours: 'rejected' },
  '-201': { meaning: 'suspicious sms content', ours: 'rejected' },
  '-202': { meaning: 'account deactivated', ours: 'rejected' },
};
