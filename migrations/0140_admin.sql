-- Server administration: audit log, blocked rooms, room deletion jobs,
-- shadow bans, rate-limit overrides, user redaction jobs, server notice rooms.

-- Every admin action that changed something: who, what, when.
CREATE TABLE admin_audit_log (
  id bigserial PRIMARY KEY,
  ts bigint NOT NULL,
  admin_user_id text NOT NULL,
  -- "METHOD /path/template" of the admin endpoint.
  action text NOT NULL,
  -- The user, room, event... the action was about (the path parameters).
  target jsonb NOT NULL DEFAULT '{}'::jsonb,
  status integer NOT NULL
);
CREATE INDEX admin_audit_log_ts ON admin_audit_log (ts);
CREATE INDEX admin_audit_log_admin ON admin_audit_log (admin_user_id, ts);

-- Rooms nobody on this server may join (Synapse's block room API).
CREATE TABLE blocked_rooms (
  room_id text PRIMARY KEY,
  user_id text NOT NULL,
  blocked_ts bigint NOT NULL
);

-- Room shutdown / purge jobs (DELETE /_synapse/admin/v2/rooms/{roomId}).
CREATE TABLE admin_room_deletions (
  delete_id text PRIMARY KEY,
  room_id text NOT NULL,
  requester text NOT NULL,
  -- scheduled | shutting_down | purging | complete | failed
  status text NOT NULL,
  params jsonb NOT NULL,
  result jsonb NOT NULL DEFAULT '{}'::jsonb,
  error text,
  created_ts bigint NOT NULL,
  updated_ts bigint NOT NULL
);
CREATE INDEX admin_room_deletions_room ON admin_room_deletions (room_id, created_ts);

-- Shadow-banned users: their sends succeed for them but reach nobody.
ALTER TABLE users ADD COLUMN shadow_banned boolean NOT NULL DEFAULT false;

CREATE TABLE ratelimit_overrides (
  user_id text PRIMARY KEY,
  messages_per_second integer NOT NULL,
  burst_count integer NOT NULL
);

-- Redact-all-events-of-a-user jobs (POST /_synapse/admin/v1/user/{userId}/redact).
CREATE TABLE admin_user_redactions (
  redact_id text PRIMARY KEY,
  user_id text NOT NULL,
  requester text NOT NULL,
  -- scheduled | active | complete | failed
  status text NOT NULL,
  failed jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_ts bigint NOT NULL
);

-- The server notices room of each user (one per user, reused).
CREATE TABLE server_notice_rooms (
  user_id text PRIMARY KEY,
  room_id text NOT NULL
);
