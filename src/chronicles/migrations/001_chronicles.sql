-- Chronicles: the activity log. Entries (performed actions) are partitioned by month on
-- occurred_at; partitions are created by the workers ahead of time and on demand
-- (src/chronicles/partitions.ts) and dropped whole by retention.
create schema if not exists chronicles;

create sequence chronicles.entries_id_seq as bigint;

create table chronicles.entries (
  id bigint not null default nextval('chronicles.entries_id_seq'),
  sequence_code uuid not null,
  app text not null,
  subject_type text not null,
  subject_gid text not null,
  action_name text not null,
  performer_gid text,
  payload jsonb not null default '{}'::jsonb,
  occurred_at timestamptz not null,
  created_at timestamptz not null default now(),
  -- Unique per partition only (the key must include occurred_at): uniqueness of sequence_code
  -- across partitions is chronicles.sequence_codes' job. This index also serves the taggings
  -- join back to their entries.
  primary key (sequence_code, occurred_at)
) partition by range (occurred_at);
alter sequence chronicles.entries_id_seq owned by chronicles.entries.id;

-- One index per documented query shape; every list is ordered like the keyset cursor.
create index entries_time on chronicles.entries (occurred_at desc, id desc);
create index entries_subject on chronicles.entries (subject_type, subject_gid, occurred_at desc, id desc);
create index entries_performer on chronicles.entries (performer_gid, occurred_at desc, id desc) where performer_gid is not null;
create index entries_action on chronicles.entries (action_name, occurred_at desc, id desc);
create index entries_payload on chronicles.entries using gin (payload jsonb_path_ops);

-- The dedupe table: one row per sequence_code ever accepted, written in the same statement as
-- the entry (insert … on conflict do nothing returning). Retention deletes its old rows.
create table chronicles.sequence_codes (
  sequence_code uuid primary key,
  occurred_at timestamptz not null
);
create index sequence_codes_occurred_at on chronicles.sequence_codes using brin (occurred_at);

create table chronicles.tags (
  id integer generated always as identity primary key,
  name text not null unique check (length(name) between 1 and 200),
  created_at timestamptz not null default now()
);

-- Taggings are keyed by sequence_code (as in the article) and carry occurred_at, so they are
-- partitioned like the entries (retention drops both) and a tag's entries come newest first.
-- by_rule: made by a tag rule (re-applying rules may remove it) rather than sent with the entry.
create table chronicles.feed_taggings (
  tag_id integer not null,
  occurred_at timestamptz not null,
  sequence_code uuid not null,
  by_rule boolean not null default false,
  primary key (tag_id, occurred_at, sequence_code)
) partition by range (occurred_at);
create index feed_taggings_entry on chronicles.feed_taggings (sequence_code);

create table chronicles.access_taggings (
  tag_id integer not null,
  occurred_at timestamptz not null,
  sequence_code uuid not null,
  by_rule boolean not null default false,
  primary key (tag_id, occurred_at, sequence_code)
) partition by range (occurred_at);
create index access_taggings_entry on chronicles.access_taggings (sequence_code);

create table chronicles.tag_rules (
  id bigint generated always as identity primary key,
  name text not null,
  app text,
  subject_type text,
  action_names text[],
  conditions jsonb not null default '[]'::jsonb,
  tags text[] not null,
  kind text not null check (kind in ('feed', 'access')),
  enabled boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create table chronicles.templates (
  id bigint generated always as identity primary key,
  app text not null,
  subject_type text not null,
  action_name text not null,
  body text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (app, subject_type, action_name)
);

-- Messages that can never become entries, with the reason and the raw message (or its head).
create table chronicles.dead_letters (
  id bigint generated always as identity primary key,
  topic text not null,
  message_id text not null,
  item integer not null default 0,
  reason text not null,
  raw text not null,
  received_at timestamptz not null default now(),
  unique (topic, message_id, item)
);
