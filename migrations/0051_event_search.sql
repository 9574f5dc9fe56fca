-- Full-text search over room events (client-server "Server Side Search"):
-- one row per m.room.message body, m.room.name and m.room.topic, written by
-- the room writer on persist and deleted when the event is redacted.
CREATE TABLE event_search (
  event_id text PRIMARY KEY,
  room_id text NOT NULL,
  sender text NOT NULL,
  -- Which field matched: content.body | content.name | content.topic.
  key text NOT NULL,
  vector tsvector NOT NULL,
  stream_ordering bigint NOT NULL,
  origin_server_ts bigint NOT NULL
);
CREATE INDEX event_search_vector ON event_search USING GIN (vector);
CREATE INDEX event_search_room ON event_search (room_id, stream_ordering);
