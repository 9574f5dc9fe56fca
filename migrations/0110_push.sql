-- Push rules: a user's changes to the server-default ruleset (custom rules per
-- kind in priority order, enabled flags and actions of default rules), as one
-- document per user; the served ruleset is computed from it by src/core/push-rules.ts
-- and also written as the user's m.push_rules account data for /sync.
CREATE TABLE push_rule_changes (
  user_id text PRIMARY KEY,
  changes jsonb NOT NULL
);

-- Pushers ("Client behaviour" of the push module): one per (user, app_id, pushkey).
CREATE TABLE pushers (
  user_id text NOT NULL,
  app_id text NOT NULL,
  pushkey text NOT NULL,
  kind text NOT NULL,
  app_display_name text NOT NULL,
  device_display_name text NOT NULL,
  profile_tag text,
  lang text NOT NULL,
  data jsonb NOT NULL,
  created_ts bigint NOT NULL,
  PRIMARY KEY (user_id, app_id, pushkey)
);
CREATE INDEX pushers_app_pushkey ON pushers (app_id, pushkey);
