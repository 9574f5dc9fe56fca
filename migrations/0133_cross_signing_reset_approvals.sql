-- "OAuth authentication" (m.oauth): a user approved, on the account page, that
-- one cross-signing reset may go through without other authentication until
-- expires_ts. Used up by the reset.
CREATE TABLE cross_signing_reset_approvals (
  user_id text PRIMARY KEY,
  expires_ts bigint NOT NULL
);
