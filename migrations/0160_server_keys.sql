-- Other servers' signing keys (server-server "Retrieving server keys"), fetched
-- from the server itself or through a notary, kept after they expire so the
-- signatures of old events stay checkable. valid_until_ts is the lesser of the
-- published value and seven days after the fetch (for an old_verify_keys entry,
-- its expired_ts); expired_ts is set once the server lists the key as old.
CREATE TABLE server_signing_keys (
  server_name text NOT NULL,
  key_id text NOT NULL,
  verify_key text NOT NULL,
  valid_until_ts bigint NOT NULL,
  expired_ts bigint,
  fetched_ts bigint NOT NULL,
  PRIMARY KEY (server_name, key_id)
);

-- The newest self-signed key response of each server, verbatim, so this server
-- can act as a notary ("Querying Keys Through Another Server") and keep serving
-- it while the server is unreachable.
CREATE TABLE server_key_responses (
  server_name text PRIMARY KEY,
  valid_until_ts bigint NOT NULL,
  response text NOT NULL,
  fetched_ts bigint NOT NULL
);
