-- Refresh tokens that were rotated away ("Refresh token grant": an old,
-- invalidated refresh token used again means the session is compromised and
-- is revoked). Only the sha256 is kept; rows are purged after a while.
CREATE TABLE retired_refresh_tokens (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL,
  device_id text NOT NULL,
  retired_ts bigint NOT NULL
);
CREATE INDEX retired_refresh_tokens_device ON retired_refresh_tokens (user_id, device_id);
CREATE INDEX retired_refresh_tokens_ts ON retired_refresh_tokens (retired_ts);
