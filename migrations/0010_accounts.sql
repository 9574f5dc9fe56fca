-- Accounts, devices and the tokens that authenticate them.
-- Secrets (access, refresh, login and OpenID tokens) are stored as sha256 hex
-- digests only; passwords as scrypt hashes.

CREATE TABLE users (
  user_id text PRIMARY KEY,
  password_hash text,
  is_admin boolean NOT NULL DEFAULT false,
  is_guest boolean NOT NULL DEFAULT false,
  deactivated boolean NOT NULL DEFAULT false,
  erased boolean NOT NULL DEFAULT false,
  locked boolean NOT NULL DEFAULT false,
  user_type text,
  appservice_id text,
  created_ts bigint NOT NULL
);

-- Guest localparts are numbers from this sequence (numeric localparts are
-- reserved for guests at registration).
CREATE SEQUENCE guest_localpart_seq START 1;

CREATE TABLE devices (
  user_id text NOT NULL,
  device_id text NOT NULL,
  display_name text,
  created_ts bigint NOT NULL,
  last_seen_ts bigint,
  last_seen_ip text,
  last_seen_user_agent text,
  PRIMARY KEY (user_id, device_id)
);

CREATE TABLE refresh_tokens (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  user_id text NOT NULL,
  device_id text NOT NULL,
  -- The refresh token this one replaced: it stays usable until this one (or
  -- its access token) is first used, then it is deleted ("Refreshing access tokens").
  replaces_id bigint,
  expiry_ts bigint,
  created_ts bigint NOT NULL
);
CREATE INDEX refresh_tokens_device ON refresh_tokens (user_id, device_id);

CREATE TABLE access_tokens (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL,
  device_id text,
  created_ts bigint NOT NULL,
  -- NULL: never expires. Past it, the token answers 401 with soft_logout.
  valid_until_ts bigint,
  refresh_token_id bigint,
  last_used_ts bigint
);
CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id);

-- m.login.token tokens (POST /login/get_token), single use, short-lived.
CREATE TABLE login_tokens (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL,
  expiry_ts bigint NOT NULL
);

-- OpenID tokens handed to third parties, checked over federation.
CREATE TABLE openid_tokens (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL,
  expiry_ts bigint NOT NULL
);

-- User-interactive authentication sessions. Kept in the database so that any
-- process of the server can continue a session another one started.
CREATE TABLE uia_sessions (
  session_id text PRIMARY KEY,
  -- What the session authorises, e.g. "POST /register": a session cannot be
  -- reused for another operation.
  operation text NOT NULL,
  user_id text,
  completed jsonb NOT NULL DEFAULT '[]',
  data jsonb NOT NULL DEFAULT '{}',
  created_ts bigint NOT NULL
);

-- Registration tokens (m.login.registration_token), managed through the admin API.
CREATE TABLE registration_tokens (
  token text PRIMARY KEY,
  uses_allowed integer,
  pending integer NOT NULL DEFAULT 0,
  completed integer NOT NULL DEFAULT 0,
  expiry_time bigint
);
