-- Nonces of Synapse-compatible shared-secret registration, in the database so
-- that a nonce fetched from one server process can be used at another.
CREATE TABLE registration_nonces (
  nonce text PRIMARY KEY,
  created_ts bigint NOT NULL
);
