-- Simplified sliding sync (MSC4186) connections. Every response's `pos` names
-- one row: the stream positions it was assembled up to and what the
-- connection had been sent by then (per room: up to which event position, with
-- which room config; sticky room subscriptions and extension settings). A
-- request with `pos` N continues from row N, so connections survive restarts;
-- rows before the newest one a client used are deleted.
CREATE TABLE sliding_sync_positions (
  id bigserial PRIMARY KEY,
  user_id text NOT NULL,
  device_id text NOT NULL,
  conn_id text NOT NULL,
  token text NOT NULL,
  state jsonb NOT NULL,
  created_ts bigint NOT NULL
);
CREATE INDEX sliding_sync_positions_conn ON sliding_sync_positions (user_id, device_id, conn_id, id);
