// The billing client module: what other parts (and the monolith) import.
export { createBillingClient, BillingClientConfigError, type BillingClientOptions } from './create-client.ts';
export { METHODS, type BillingClient, type Method, type RecordsOptions } from './client-api.ts';
export { BILLING_RECORDS_TOPIC, billingRecordEventSchema, type BillingRecordEvent } from './events.ts';
export { createLastRecordCache, type LastRecordCache } from './last-record-cache.ts';
export { createSlidingWindowLimiter, type RequestLimiter } from './limiter.ts';
export { withProducts, withRecords } from './preload.ts';
export { RECORD_FIELDS, type BillingRecord, type BillingRecordFilter, type RecordField } from './records.ts';
export { BillingHttpError, BillingUnavailableError } from './retry.ts';
export { jitteredDelayMs, planSpread, scheduleJittered, type SpreadOptions, type SpreadPlan } from './scheduler.ts';
export type { Transport } from './instrumentation.ts';
