-- The latest device-list position others may see for a user. A change only the
-- user may see (a new user-signing key, "Cross-signing") moves stream_pos alone.
ALTER TABLE e2e_device_list_changes ADD COLUMN public_pos bigint;
UPDATE e2e_device_list_changes SET public_pos = stream_pos;
CREATE INDEX e2e_device_list_changes_public_pos ON e2e_device_list_changes (public_pos);
