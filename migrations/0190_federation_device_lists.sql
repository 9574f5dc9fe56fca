-- Device lists across servers (server-server "Device Management").
--
-- Other servers' users, cached: one row per remote user whose list we hold,
-- at the origin's `stream_id`; `stale` when an m.device_list_update was lost
-- (a gap in prev_id) and the list must be fetched again before it is trusted.
CREATE TABLE remote_device_lists (
  user_id text PRIMARY KEY,
  stream_id bigint NOT NULL,
  stale boolean NOT NULL,
  updated_ts bigint NOT NULL
);

-- The cached devices; `key_json` is the device keys object as received, or
-- NULL for a device that has uploaded none.
CREATE TABLE remote_devices (
  user_id text NOT NULL,
  device_id text NOT NULL,
  display_name text,
  key_json text,
  PRIMARY KEY (user_id, device_id)
);

-- Their master and self-signing keys (m.signing_key_update, /user/devices).
CREATE TABLE remote_cross_signing_keys (
  user_id text NOT NULL,
  key_type text NOT NULL CHECK (key_type IN ('master', 'self_signing')),
  key_json text NOT NULL,
  PRIMARY KEY (user_id, key_type)
);

-- Our users, as sent to others: the user's last m.device_list_update
-- stream_id (the prev_id of the next one, and the stream_id /user/devices
-- answers), a digest of each device and of the signing keys as last sent, so
-- a change sends exactly the devices that differ.
CREATE TABLE device_list_outbound (
  user_id text PRIMARY KEY,
  stream_id bigint NOT NULL,
  signing_digest text
);

CREATE TABLE device_list_outbound_devices (
  user_id text NOT NULL,
  device_id text NOT NULL,
  digest text NOT NULL,
  PRIMARY KEY (user_id, device_id)
);
