-- Event relationships (client-server "Forming relationships between events"):
-- one row per child event whose cleartext content has a valid `m.relates_to`
-- with a `rel_type`, written by the room writer on persist. A redacted child
-- loses its relationship, so its row is deleted when the redaction is applied.
CREATE TABLE event_relations (
  event_id text PRIMARY KEY,
  relates_to_id text NOT NULL,
  rel_type text NOT NULL,
  room_id text NOT NULL,
  -- The child's event type and sender (for /relations filters, edits' validity, threads).
  type text NOT NULL,
  sender text NOT NULL,
  -- m.annotation's `key` (duplicate annotations are refused per sender/type/key).
  aggregation_key text,
  depth bigint NOT NULL,
  stream_ordering bigint NOT NULL,
  origin_server_ts bigint NOT NULL
);
CREATE INDEX event_relations_parent ON event_relations (relates_to_id, depth, stream_ordering);
CREATE INDEX event_relations_room_threads ON event_relations (room_id, stream_ordering) WHERE rel_type = 'm.thread';
