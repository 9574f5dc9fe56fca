-- Read receipts: one row per (room, receipt type, user, thread) as the spec's
-- receipts module requires ("each user_id, receipt_type and categorisation
-- tuple must be associated with only a single event_id"). thread_id '' is the
-- unthreaded receipt. stream_id orders changes for /sync.
CREATE SEQUENCE receipts_stream_seq;
CREATE TABLE receipts (
  room_id text NOT NULL,
  receipt_type text NOT NULL,
  user_id text NOT NULL,
  thread_id text NOT NULL DEFAULT '',
  event_id text NOT NULL,
  ts bigint NOT NULL,
  stream_id bigint NOT NULL,
  PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_room_stream ON receipts (room_id, stream_id);

-- Presence: the latest state per user; stream_id orders changes for /sync.
CREATE SEQUENCE presence_stream_seq;
CREATE TABLE presence (
  user_id text PRIMARY KEY,
  state text NOT NULL,
  status_msg text,
  last_active_ts bigint NOT NULL,
  stream_id bigint NOT NULL
);
CREATE INDEX presence_stream ON presence (stream_id);
