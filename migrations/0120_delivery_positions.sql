-- Outbound delivery (appservices now; push gateways and federation peers next):
-- one durable position per destination in the room-event stream. Nothing in
-- memory is the only copy of what must still be sent: a worker re-reads the
-- events after `stream_pos` on every start.
CREATE TABLE delivery_positions (
  -- Destination kind ('appservice', 'pusher', 'federation') and its id within the kind.
  kind text NOT NULL,
  destination text NOT NULL,
  -- Room events with stream_ordering <= stream_pos are delivered (or were of no interest).
  stream_pos bigint NOT NULL,
  -- Kind-specific positions in other streams (receipts, typing, to-device...).
  cursor jsonb NOT NULL DEFAULT '{}',
  -- Id of the next transaction; an in-flight transaction keeps its id until it succeeds.
  txn_seq bigint NOT NULL,
  -- The in-flight transaction, persisted before it is first sent so that every retry,
  -- also after a restart, sends the same id with the same payload. NULL when idle.
  pending_to bigint,
  pending_cursor jsonb,
  pending_payload jsonb,
  -- Consecutive failures of the in-flight transaction (backoff survives restarts).
  failures integer NOT NULL DEFAULT 0,
  updated_ts bigint NOT NULL,
  PRIMARY KEY (kind, destination)
);
