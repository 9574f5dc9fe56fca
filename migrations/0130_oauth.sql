-- The OAuth 2.0 API (client-server API "OAuth 2.0 API"): registered clients,
-- authorisation codes, device authorisation grants, the browser sessions of
-- the login pages, and which client each OAuth-issued device belongs to.
-- Every secret (codes, device codes, user codes, session cookies) is stored as
-- a sha256 hex digest only; access and refresh tokens live in access_tokens
-- and refresh_tokens like any other.

-- "Client registration": metadata as registered (validated, normalised).
CREATE TABLE oauth_clients (
  client_id text PRIMARY KEY,
  metadata jsonb NOT NULL,
  created_ts bigint NOT NULL
);

-- "Authorisation code grant": single-use codes. A code that was exchanged
-- stays until it expires, so a replay can be refused and can revoke the
-- device it created (RFC 6749 section 4.1.2).
CREATE TABLE oauth_authorization_codes (
  code_hash text PRIMARY KEY,
  client_id text NOT NULL,
  user_id text NOT NULL,
  redirect_uri text NOT NULL,
  scope text NOT NULL,
  device_id text NOT NULL,
  code_challenge text NOT NULL,
  nonce text,
  auth_time bigint NOT NULL,
  created_ts bigint NOT NULL,
  expires_ts bigint NOT NULL,
  exchanged_ts bigint,
  issued_device boolean NOT NULL DEFAULT false
);
CREATE INDEX oauth_authorization_codes_expiry ON oauth_authorization_codes (expires_ts);

-- "Device authorisation grant" (RFC 8628).
CREATE TABLE oauth_device_grants (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  device_code_hash text NOT NULL UNIQUE,
  user_code_hash text NOT NULL UNIQUE,
  client_id text NOT NULL,
  scope text NOT NULL,
  device_id text NOT NULL,
  -- pending, approved, denied, exchanged
  status text NOT NULL DEFAULT 'pending',
  user_id text,
  interval_s integer NOT NULL,
  last_poll_ts bigint,
  created_ts bigint NOT NULL,
  expires_ts bigint NOT NULL
);
CREATE INDEX oauth_device_grants_expiry ON oauth_device_grants (expires_ts);

-- Devices created through the OAuth 2.0 API: their client and granted scope.
CREATE TABLE oauth_sessions (
  user_id text NOT NULL,
  device_id text NOT NULL,
  client_id text NOT NULL,
  scope text NOT NULL,
  created_ts bigint NOT NULL,
  PRIMARY KEY (user_id, device_id)
);
CREATE INDEX oauth_sessions_client ON oauth_sessions (client_id);

-- Sign-ins of the server's own web pages (login, consent, account management).
CREATE TABLE oauth_browser_sessions (
  session_hash text PRIMARY KEY,
  user_id text NOT NULL,
  created_ts bigint NOT NULL,
  expires_ts bigint NOT NULL
);
CREATE INDEX oauth_browser_sessions_user ON oauth_browser_sessions (user_id);
