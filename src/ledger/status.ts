/** Where an outbox row is: waiting, in flight, or one of its final states. */
export type OutboxStatus = 'queued' | 'sending' | 'sent' | 'delivered' | 'failed' | 'expired' | 'rejected' | 'unknown' | 'suppressed';
