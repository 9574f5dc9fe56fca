-- Push verdicts stored once per event for the members who share them.
--
-- Before, every live event wrote one event_push_actions row and one
-- push_counters upsert per notified local member: in a room of N members,
-- N rows and N upserts per message, the largest cost of the send path. Most
-- members reach the same verdict (same default rules, not named by the
-- event), so an event now stores:
-- - push_room_verdicts: the verdict shared by the event's "class", every
--   local member joined to the room when the event was persisted except the
--   sender and the members listed in event_push_actions; written only when
--   that verdict notifies;
-- - event_push_actions: the members whose verdict differs from the class's
--   (named by the event, other rules, an invitee), now also when they do not
--   notify (notify false), so that they can be told apart from the class.
-- Unread counts are derived when read instead of kept per member: the class
-- verdicts of a (room, thread) are numbered (seq, hl_seq: how many notify, and
-- how many highlight, up to and including this one), so the class part of a
-- count between two positions is a difference of two numbers, and the
-- exceptions adjust it by their own deltas.

-- Which positions of a room's class a local user belongs to: from joined_at
-- (the join's position, exclusive) to left_at (the position of the membership
-- that ended it, exclusive; null while joined).
CREATE TABLE push_member_spans (
  user_id text NOT NULL,
  room_id text NOT NULL,
  joined_at bigint NOT NULL,
  left_at bigint,
  PRIMARY KEY (user_id, room_id, joined_at)
);
CREATE UNIQUE INDEX push_member_spans_open ON push_member_spans (user_id, room_id) WHERE left_at IS NULL;

-- The local users joined now: their verdicts so far are all in event_push_actions.
INSERT INTO push_member_spans (user_id, room_id, joined_at)
SELECT m.user_id, m.room_id, 0 FROM room_memberships m JOIN users u ON u.user_id = m.user_id WHERE m.membership = 'join';

CREATE TABLE push_room_verdicts (
  room_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  event_id text NOT NULL,
  thread_id text NOT NULL,
  sender text NOT NULL,
  highlight boolean NOT NULL,
  actions text NOT NULL,
  ts bigint NOT NULL,
  seq bigint NOT NULL,
  hl_seq bigint NOT NULL,
  -- A redacted event no longer counts: the numbering stays, counts subtract it.
  redacted boolean NOT NULL DEFAULT false,
  PRIMARY KEY (room_id, stream_ordering)
);
CREATE INDEX push_room_verdicts_thread ON push_room_verdicts (room_id, thread_id, stream_ordering);
CREATE INDEX push_room_verdicts_redacted ON push_room_verdicts (room_id, thread_id, stream_ordering) WHERE redacted;

-- The latest class verdict of each (room, thread): where a count starts looking.
CREATE TABLE push_thread_heads (
  room_id text NOT NULL,
  thread_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  seq bigint NOT NULL,
  hl_seq bigint NOT NULL,
  PRIMARY KEY (room_id, thread_id)
);

-- An exception's effect on its member's counts is notify - class_notify and
-- highlight - class_highlight. The rows stored so far had no class: they notify.
ALTER TABLE event_push_actions ADD COLUMN notify boolean NOT NULL DEFAULT true;
ALTER TABLE event_push_actions ADD COLUMN class_notify boolean NOT NULL DEFAULT false;
ALTER TABLE event_push_actions ADD COLUMN class_highlight boolean NOT NULL DEFAULT false;

DROP TABLE push_counters;
