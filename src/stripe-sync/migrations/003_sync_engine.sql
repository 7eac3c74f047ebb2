-- stripe-sync engine state, beside the mirrored tables: the sync log, backfill checkpoints, the
-- event cursor of each account and the tombstones of hard deletes. Hand-written (001/002 are
-- generated). Every table is keyed by the account, as the mirrored tables are.

-- What the engine did, newest last. At start it reads the newest entries of each account to decide
-- between a fresh backfill, a resumed one and polling. Kinds: backfill_started, backfill_complete,
-- per_parent_complete, events_caught_up, cursor_expired, reconcile_started, error.
create table if not exists {{schema}}._sync_log (
  id bigserial primary key,
  account_id text not null,
  kind text not null,
  payload jsonb not null default '{}',
  created_at timestamptz not null default now()
);
create index if not exists _sync_log_account_kind_idx on {{schema}}._sync_log (account_id, kind, id);

-- The event cursor: the newest event whose changes are in the tables. Written in the transaction
-- that applies the events, so a crash replays from exactly where the database stands.
create table if not exists {{schema}}._sync_state (
  account_id text primary key,
  event_cursor text,
  -- created of the cursor event (unix seconds) and its position among the events of that second
  event_cursor_created bigint,
  event_cursor_position integer not null default 0,
  events_applied bigint not null default 0,
  last_poll_at timestamptz,
  updated_at timestamptz not null default now()
);

-- Backfill checkpoints. A job walks one list endpoint (`list:/v1/customers`) or one nested
-- endpoint for every parent (`parents:/v1/customers/{customer}/balance_transactions`); it is cut
-- into segments: a `created` range walked newest first with `starting_after`, or a range of
-- parent ids. Each page is written in the transaction that moves its segment's cursor.
create table if not exists {{schema}}._backfill_segments (
  account_id text not null,
  backfill_id bigint not null,
  job text not null,
  segment integer not null,
  -- list segments: created >= created_gte and created < created_lt (unix seconds; null = open)
  created_gte bigint,
  created_lt bigint,
  -- list segments: the last object written; parent segments: the last parent done
  starting_after text,
  cursor_created bigint,
  -- parent segments: the ids (parent_after, parent_last]
  parent_after text,
  parent_last text,
  done boolean not null default false,
  rows_written bigint not null default 0,
  requests bigint not null default 0,
  updated_at timestamptz not null default now(),
  primary key (account_id, backfill_id, job, segment)
);

-- Jobs of a backfill, so a resumed run knows which were planned, probed and finished.
create table if not exists {{schema}}._backfill_jobs (
  account_id text not null,
  backfill_id bigint not null,
  job text not null,
  phase text not null,
  -- probe: 'new' until the first page is written, then 'split' once its segments exist
  state text not null default 'new',
  done boolean not null default false,
  rows_written bigint not null default 0,
  requests bigint not null default 0,
  updated_at timestamptz not null default now(),
  primary key (account_id, backfill_id, job)
);

-- With --hard-deletes: which objects were deleted and when, so a list read that started before
-- the deletion cannot bring the row back. Entries older than the events window are useless.
create table if not exists {{schema}}._tombstones (
  account_id text not null,
  table_name text not null,
  id text not null,
  deleted_version timestamptz not null,
  primary key (account_id, table_name, id)
);
create index if not exists _tombstones_version_idx on {{schema}}._tombstones (deleted_version);
