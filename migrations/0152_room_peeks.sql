-- Rooms a device peeks into (MSC2753 "Peeking via /sync"): the device's /sync
-- shows them under rooms.peek until it joins or stops peeking. `since` is the
-- event stream position when the peek started; `delivered` turns true once a
-- sync carried the room's timeline, after which syncs carry only new events.
CREATE TABLE room_peeks (
  user_id text NOT NULL,
  device_id text NOT NULL,
  room_id text NOT NULL,
  since bigint NOT NULL,
  delivered boolean NOT NULL DEFAULT false,
  PRIMARY KEY (user_id, device_id, room_id)
);
