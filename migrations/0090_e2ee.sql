-- End-to-end encryption: device identity keys, one-time and
-- fallback keys, cross-signing keys and signatures, the device-list and
-- to-device streams, and server-side key backups. Key objects are kept as
-- JSON text exactly as uploaded (jsonb would refuse \u0000 and reorder keys);
-- the server never sees plaintext.

CREATE TABLE e2e_device_keys (
  user_id text NOT NULL,
  device_id text NOT NULL,
  key_json text NOT NULL,
  -- The device's ed25519 key (unpadded base64): checks signatures that the
  -- device makes on its user's master key.
  ed25519_key text NOT NULL,
  updated_ts bigint NOT NULL,
  PRIMARY KEY (user_id, device_id)
);

CREATE TABLE e2e_one_time_keys (
  -- Upload order: claims hand out the oldest first ("POST /keys/claim").
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id text NOT NULL,
  device_id text NOT NULL,
  algorithm text NOT NULL,
  key_id text NOT NULL,
  key_json text NOT NULL,
  UNIQUE (user_id, device_id, algorithm, key_id)
);
CREATE INDEX e2e_one_time_keys_claim ON e2e_one_time_keys (user_id, device_id, algorithm, id);

-- At most one fallback key per device and algorithm; `used` once claimed.
CREATE TABLE e2e_fallback_keys (
  user_id text NOT NULL,
  device_id text NOT NULL,
  algorithm text NOT NULL,
  key_id text NOT NULL,
  key_json text NOT NULL,
  used boolean NOT NULL DEFAULT false,
  PRIMARY KEY (user_id, device_id, algorithm)
);

CREATE TABLE e2e_cross_signing_keys (
  user_id text NOT NULL,
  key_type text NOT NULL CHECK (key_type IN ('master', 'self_signing', 'user_signing')),
  public_key text NOT NULL,
  key_json text NOT NULL,
  updated_ts bigint NOT NULL,
  PRIMARY KEY (user_id, key_type)
);

-- Signatures added through /keys/signatures/upload. The target key id is a
-- device id for device keys and the public key for a master key.
CREATE TABLE e2e_cross_signing_signatures (
  signer_user_id text NOT NULL,
  signer_key_id text NOT NULL,
  target_user_id text NOT NULL,
  target_key_id text NOT NULL,
  signature text NOT NULL,
  PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);

-- Device-list stream: the latest position at which each user's devices or
-- cross-signing keys changed. Only the latest is needed: a reader whose
-- window misses an overwritten position sees the newer one in its next window.
CREATE SEQUENCE e2e_device_list_stream_seq;
CREATE TABLE e2e_device_list_changes (
  user_id text PRIMARY KEY,
  stream_pos bigint NOT NULL
);
CREATE INDEX e2e_device_list_changes_pos ON e2e_device_list_changes (stream_pos);

-- To-device inbox ("Send-to-Device messaging"): kept until the recipient's
-- next sync token acknowledges it. One message per device per position.
CREATE SEQUENCE to_device_stream_seq;
CREATE TABLE to_device_messages (
  user_id text NOT NULL,
  device_id text NOT NULL,
  stream_pos bigint NOT NULL,
  sender text NOT NULL,
  type text NOT NULL,
  content text NOT NULL,
  created_ts bigint NOT NULL,
  PRIMARY KEY (user_id, device_id, stream_pos)
);

-- Transaction ids of sendToDevice, per device and endpoint path ("Transaction identifiers").
CREATE TABLE to_device_txns (
  user_id text NOT NULL,
  device_id text NOT NULL,
  event_type text NOT NULL,
  txn_id text NOT NULL,
  created_ts bigint NOT NULL,
  PRIMARY KEY (user_id, device_id, event_type, txn_id)
);

-- Server-side key backups. Deleted versions stay as tombstones so a version
-- number is never handed out twice.
CREATE TABLE e2e_room_key_versions (
  user_id text NOT NULL,
  version bigint NOT NULL,
  algorithm text NOT NULL,
  auth_data text NOT NULL,
  etag bigint NOT NULL DEFAULT 0,
  deleted boolean NOT NULL DEFAULT false,
  PRIMARY KEY (user_id, version)
);

CREATE TABLE e2e_room_keys (
  user_id text NOT NULL,
  version bigint NOT NULL,
  room_id text NOT NULL,
  session_id text NOT NULL,
  first_message_index bigint NOT NULL,
  forwarded_count bigint NOT NULL,
  is_verified boolean NOT NULL,
  session_data text NOT NULL,
  PRIMARY KEY (user_id, version, room_id, session_id)
);
