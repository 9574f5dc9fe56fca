-- The device (and so the access token) that registered a pusher: its pushers go
-- when the device is deleted, as when a password change logs out other sessions.
ALTER TABLE pushers ADD COLUMN device_id text;
CREATE INDEX pushers_user_device ON pushers (user_id, device_id);
