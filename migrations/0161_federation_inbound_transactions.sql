-- Transactions received with PUT /_matrix/federation/v1/send/{txnId} and the
-- answer given, so a retried transaction (same origin, same id) gets the same
-- answer and its PDUs are not processed twice (server-server "Transactions").
CREATE TABLE federation_inbound_transactions (
  origin text NOT NULL,
  txn_id text NOT NULL,
  response jsonb NOT NULL,
  received_ts bigint NOT NULL,
  PRIMARY KEY (origin, txn_id)
);

CREATE INDEX federation_inbound_transactions_received ON federation_inbound_transactions (received_ts);
