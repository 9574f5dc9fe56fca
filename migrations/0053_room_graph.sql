-- Rooms as a graph: events from other servers arrive with several prev_events,
-- before their ancestors, or failing the authorization rules (server-server
-- API, "Checks performed on receipt of a PDU", "Rejection", "Soft failure").

-- Soft-failed events are stored and keep their state, but are never in a
-- client's timeline, never forwarded and never forward extremities.
ALTER TABLE events ADD COLUMN soft_failed boolean NOT NULL DEFAULT false;

-- The room's current state (the resolution over all forward extremities) once
-- this event was persisted. For live events of a room with one forward
-- extremity it equals state_after; readers that want "the room's state at a
-- stream position" read it from the last live event at or before that position.
ALTER TABLE events ADD COLUMN current_after bigint;
UPDATE events SET current_after = state_after WHERE NOT outlier AND rejected_reason IS NULL;

-- Events that are not live (outliers, backfilled, rejected and soft-failed
-- events) take negative stream orderings from this sequence, so no reader of
-- the live stream (stream_ordering > since) ever sees them as new, while
-- /messages still orders backfilled events topologically.
CREATE SEQUENCE events_backfill_seq;

-- The current state group of every room (see events.current_after).
ALTER TABLE rooms ADD COLUMN current_state_group bigint;
UPDATE rooms r SET current_state_group = (
  SELECT e.state_after FROM events e
   WHERE e.room_id = r.room_id AND NOT e.outlier AND e.rejected_reason IS NULL
   ORDER BY e.stream_ordering DESC LIMIT 1);

-- prev_events that are not (yet) known: the room's backward extremities. An
-- event waiting on them is stored as an outlier and processed again, with the
-- kind it arrived as, once the last of them is persisted.
CREATE TABLE event_missing_prevs (
  event_id text NOT NULL,
  missing_prev_id text NOT NULL,
  room_id text NOT NULL,
  kind text NOT NULL,
  PRIMARY KEY (event_id, missing_prev_id)
);
CREATE INDEX event_missing_prevs_prev ON event_missing_prevs (missing_prev_id);
CREATE INDEX event_missing_prevs_room ON event_missing_prevs (room_id);

-- The auth chain of every state event (all events reachable through
-- auth_events), so state resolution's auth difference is one indexed read
-- instead of a walk through whole histories. Message events are never in a
-- state set and are not indexed.
CREATE TABLE event_auth_chain (
  event_id text NOT NULL,
  chain_id text NOT NULL,
  PRIMARY KEY (event_id, chain_id)
);

INSERT INTO event_auth_chain (event_id, chain_id)
WITH RECURSIVE chain(event_id, chain_id) AS (
  SELECT a.event_id, a.auth_event_id FROM event_auth_edges a
    JOIN events e ON e.event_id = a.event_id AND e.state_key IS NOT NULL
  UNION
  SELECT c.event_id, a.auth_event_id FROM chain c JOIN event_auth_edges a ON a.event_id = c.chain_id
)
SELECT event_id, chain_id FROM chain ON CONFLICT DO NOTHING;

-- The membership part of the current-state delta stream: every change of a
-- user's membership in a room's current state (the resolution over its forward
-- extremities), at the live stream position of the event whose persisting
-- caused it. /sync reads "the user's membership at stream position N" and
-- "who joined or left in (since, upto]" here, instead of taking the latest
-- member event by stream order, which on a graph may have lost state
-- resolution. Other state keys are not recorded: their readers use state
-- groups, and each row costs storage on every state change. event_id NULL:
-- the key left the state.
CREATE TABLE current_membership_delta (
  stream_ordering bigint NOT NULL,
  room_id text NOT NULL,
  user_id text NOT NULL,
  event_id text,
  membership text,
  PRIMARY KEY (room_id, user_id, stream_ordering)
);
CREATE INDEX current_membership_delta_stream ON current_membership_delta (room_id, stream_ordering);

INSERT INTO current_membership_delta (stream_ordering, room_id, user_id, event_id, membership)
SELECT stream_ordering, room_id, state_key, event_id, coalesce((pdu::jsonb)->'content'->>'membership', 'leave')
  FROM events
 WHERE type = 'm.room.member' AND state_key IS NOT NULL AND NOT outlier AND rejected_reason IS NULL AND stream_ordering > 0;
