-- Profiles, account data (global and per room, including m.tag), filters.

CREATE TABLE profiles (
  user_id text PRIMARY KEY,
  displayname text,
  avatar_url text,
  -- Custom profile fields (spec v1.16), key -> any JSON value.
  fields jsonb NOT NULL DEFAULT '{}'
);

-- Every write takes a new position so /sync can read "changes since N".
CREATE SEQUENCE account_data_stream_seq START 1;

CREATE TABLE account_data (
  user_id text NOT NULL,
  -- '' for global account data.
  room_id text NOT NULL DEFAULT '',
  type text NOT NULL,
  content jsonb NOT NULL,
  stream_pos bigint NOT NULL,
  PRIMARY KEY (user_id, room_id, type)
);
CREATE INDEX account_data_stream ON account_data (user_id, stream_pos);

CREATE SEQUENCE filter_id_seq START 1;

CREATE TABLE filters (
  user_id text NOT NULL,
  filter_id bigint NOT NULL,
  filter jsonb NOT NULL,
  PRIMARY KEY (user_id, filter_id)
);
