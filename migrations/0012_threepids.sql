-- Third-party identifiers (email addresses, phone numbers) bound to accounts,
-- and the validation sessions of POST .../requestToken.

CREATE TABLE user_threepids (
  medium text NOT NULL,
  address text NOT NULL,
  user_id text NOT NULL,
  validated_ts bigint NOT NULL,
  added_ts bigint NOT NULL,
  PRIMARY KEY (medium, address)
);
CREATE INDEX user_threepids_user ON user_threepids (user_id);

-- Which identity servers a 3PID was bound on, so unbind and deactivation know where to go.
CREATE TABLE threepid_id_server_bindings (
  user_id text NOT NULL,
  medium text NOT NULL,
  address text NOT NULL,
  id_server text NOT NULL,
  PRIMARY KEY (user_id, medium, address, id_server)
);

CREATE TABLE threepid_validation_sessions (
  session_id text PRIMARY KEY,
  client_secret text NOT NULL,
  medium text NOT NULL,
  address text NOT NULL,
  token_hash text NOT NULL,
  send_attempt integer NOT NULL,
  next_link text,
  validated_ts bigint,
  created_ts bigint NOT NULL
);
CREATE INDEX threepid_sessions_secret ON threepid_validation_sessions (client_secret, medium, address);
