-- The relay deletes idempotency keys older than --idempotency-key-retention every minute: by
-- creation time, without reading the whole table.
create index if not exists idempotency_keys_created_idx on billing.idempotency_keys (created_at);
