-- Billing records, the transactional outbox of their changes, API idempotency keys and the Stripe
-- import's watermark. Times are kept to the millisecond (timestamptz(3)): the keyset cursor
-- carries created_at as a JavaScript Date, so a finer stored time would skip rows between pages.
create schema if not exists billing;

create table if not exists billing.records (
  id bigint generated always as identity primary key,
  gid text not null unique,
  product_gid text not null,
  client_gid text not null,
  kind text not null check (kind in ('invoice', 'payment', 'credit_note', 'refund', 'adjustment')),
  status text not null,
  amount bigint not null,
  currency char(3) not null check (currency ~ '^[a-z]{3}$'),
  due_at timestamptz(3),
  paid_at timestamptz(3),
  created_at timestamptz(3) not null default now(),
  updated_at timestamptz(3) not null default now(),
  stripe_id text unique,
  source text not null default 'api' check (source in ('api', 'payments', 'stripe')),
  -- e.g. the payments tracking id: a consumed message updates the record it made, never a second one.
  source_id text,
  metadata jsonb not null default '{}',
  unique (source, source_id)
);

-- Every search is newest first on (created_at desc, id desc); each index below serves one driving
-- criterion in that order, so a page is an index walk that stops after `first` rows.
create index if not exists records_product_created_idx on billing.records (product_gid, created_at desc, id desc);
create index if not exists records_client_created_idx on billing.records (client_gid, created_at desc, id desc);
create index if not exists records_created_idx on billing.records (created_at desc, id desc);
-- Narrow due/paid ranges ("due this week", "paid yesterday") without walking the whole table;
-- partial because payments have no due date and open invoices no paid date.
create index if not exists records_due_idx on billing.records (due_at) where due_at is not null;
create index if not exists records_paid_idx on billing.records (paid_at) where paid_at is not null;

-- Written in the same transaction as the record change; relayed to the bus in id order by
-- `ledgerline billing relay`, which marks a row published once the bus acknowledged it.
create table if not exists billing.outbox (
  id bigint generated always as identity primary key,
  event_id uuid not null unique,
  topic text not null,
  key text not null,
  value jsonb not null,
  created_at timestamptz not null default now(),
  published_at timestamptz
);
create index if not exists outbox_unpublished_idx on billing.outbox (id) where published_at is null;
create index if not exists outbox_published_idx on billing.outbox (published_at) where published_at is not null;

-- createBillingRecord / POST with an idempotency key: per API client (a non-secret hash of its key).
create table if not exists billing.idempotency_keys (
  client_scope text not null,
  key text not null,
  request_hash text not null,
  record_id bigint not null references billing.records (id),
  created_at timestamptz not null default now(),
  primary key (client_scope, key)
);

-- Incremental imports (the Stripe mirror's invoices): how far each has read.
create table if not exists billing.import_watermarks (
  name text primary key,
  watermark timestamptz not null,
  updated_at timestamptz not null default now()
);
