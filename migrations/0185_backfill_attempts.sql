-- Backfill ("Backfilling and retrieving missing events") asks servers in a
-- room for the events before its backward extremities (the prev_events that
-- stored events cite but the room lacks). A backward extremity every asked
-- server answered without is exhausted and never asked for again; one whose
-- servers could not be reached is retried after retry_after_ts.
CREATE TABLE backfill_attempts (
  room_id text NOT NULL,
  event_id text NOT NULL,
  attempts integer NOT NULL,
  exhausted boolean NOT NULL,
  retry_after_ts bigint NOT NULL,
  PRIMARY KEY (room_id, event_id)
);
