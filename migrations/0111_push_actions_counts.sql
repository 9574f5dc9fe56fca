-- Push delivery and incremental notification counts.
--
-- Pushers get a numeric id: it names the pusher's outbound delivery position
-- (delivery_positions kind 'pusher'), so a pusher deleted and created again
-- starts afresh at the stream's head instead of inheriting an old backlog.
ALTER TABLE pushers ADD COLUMN id bigserial;
CREATE UNIQUE INDEX pushers_id ON pushers (id);

-- The push rules' verdict for each local user on each live event, written in the
-- event's own transaction (client-server "Server behaviour" of the push module:
-- "The updated notification count from a new event MUST appear in the same /sync
-- response as the event itself"). Only events whose actions notify are stored.
-- thread_id is 'main' or the thread root ("Receiving notifications", threads).
CREATE TABLE event_push_actions (
  user_id text NOT NULL,
  event_id text NOT NULL,
  room_id text NOT NULL,
  thread_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  highlight boolean NOT NULL,
  actions jsonb NOT NULL,
  ts bigint NOT NULL,
  PRIMARY KEY (user_id, event_id)
);
CREATE INDEX event_push_actions_room ON event_push_actions (user_id, room_id, stream_ordering);
CREATE INDEX event_push_actions_user ON event_push_actions (user_id, stream_ordering);
CREATE INDEX event_push_actions_event ON event_push_actions (event_id);

-- How far a user has read, per room and thread ('' = an unthreaded receipt, which
-- covers every thread): the most advanced of m.read, m.read.private and the
-- user's own latest event in that thread ("Marking notifications as read").
CREATE TABLE push_read_marks (
  user_id text NOT NULL,
  room_id text NOT NULL,
  thread_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  PRIMARY KEY (user_id, room_id, thread_id)
);

-- The unread counts /sync serves, kept incrementally: +1 when a notifying event is
-- persisted, recomputed from event_push_actions when a read mark moves. A row
-- exists only while something is unread.
CREATE TABLE push_counters (
  user_id text NOT NULL,
  room_id text NOT NULL,
  thread_id text NOT NULL,
  notification_count integer NOT NULL,
  highlight_count integer NOT NULL,
  PRIMARY KEY (user_id, room_id, thread_id)
);
