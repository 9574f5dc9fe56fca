-- Dehydrated devices (MSC3814, unstable): at most one per user. The device
-- itself lives in `devices` (accounts); this row holds its encrypted pickle.
CREATE TABLE e2e_dehydrated_devices (
  user_id text PRIMARY KEY,
  device_id text NOT NULL,
  device_data text NOT NULL,
  created_ts bigint NOT NULL
);
