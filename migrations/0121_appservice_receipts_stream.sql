-- Appservice transactions read receipts of all rooms by stream position.
CREATE INDEX receipts_stream ON receipts (stream_id);
