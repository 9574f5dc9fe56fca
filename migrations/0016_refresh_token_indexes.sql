-- Refreshing looks tokens up by the refresh token they belong to or replaced.
CREATE INDEX access_tokens_refresh ON access_tokens (refresh_token_id) WHERE refresh_token_id IS NOT NULL;
CREATE INDEX refresh_tokens_replaces ON refresh_tokens (replaces_id) WHERE replaces_id IS NOT NULL;
