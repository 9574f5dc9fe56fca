-- Memberships of local users in rooms this server is not in (server-server
-- "Inviting to a room", "Leaving Rooms (Rejecting Invites)", "Knocking upon a
-- room"): the membership event is stored as an outlier, the user's
-- membership row and the membership delta stream get a live position so
-- /sync shows it, and the stripped state the other server sent with it
-- (invite_room_state, knock_room_state) is kept here for the client's
-- invite_state / knock_state.
CREATE TABLE room_stripped_state (
  event_id text PRIMARY KEY,
  room_id text NOT NULL,
  -- Client-server "Stripped state" objects: type, state_key, sender, content.
  events jsonb NOT NULL
);
