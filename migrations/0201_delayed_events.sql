-- Delayed events (MSC4140): sent by the server on behalf of the user once
-- `delay` passes without a restart; cancelled or sent early on request.
CREATE TABLE delayed_events (
  delay_id text PRIMARY KEY,
  user_id text NOT NULL,
  device_id text,
  room_id text NOT NULL,
  event_type text NOT NULL,
  state_key text,
  content jsonb NOT NULL,
  delay_ms bigint NOT NULL,
  send_at bigint NOT NULL,
  created_ts bigint NOT NULL
);
CREATE INDEX delayed_events_user ON delayed_events (user_id, created_ts);
CREATE INDEX delayed_events_send_at ON delayed_events (send_at);
