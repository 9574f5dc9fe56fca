-- Client-server "Reporting content": reports of events, rooms and users, kept for server admins.
CREATE TABLE content_reports (
  id bigserial PRIMARY KEY,
  -- 'event' | 'room' | 'user'
  kind text NOT NULL,
  reporter text NOT NULL,
  room_id text,
  event_id text,
  target_user_id text,
  reason text,
  received_ts bigint NOT NULL
);
CREATE INDEX content_reports_received ON content_reports (received_ts);
