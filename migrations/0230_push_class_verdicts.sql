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

-- Unread counts per (user, room, thread) for the pairs given (client-server
-- "Receiving notifications"), derived from the marks: in each thread, what
-- notified after the base (the later of the user's join and unthreaded mark)
-- and after the thread's own mark. The class part is the difference of the
-- thread's numbering at its head and at that position, less the redacted
-- class verdicts in between; each exception then adds its own notify and
-- highlight and takes away the class's. Only threads with something unread
-- have a row. Every woken /sync reads this: PL/pgSQL keeps the statement's
-- plan for the session, where a statement sent as text is planned per call.
CREATE FUNCTION push_unread_counts(p_users text[], p_rooms text[])
RETURNS TABLE (user_id text, room_id text, thread_id text, notification_count bigint, highlight_count bigint)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH b AS (
    SELECT q.user_id, q.room_id, GREATEST(s.joined_at, coalesce(u.stream_ordering, 0)) AS base
      FROM unnest(p_users, p_rooms) AS q(user_id, room_id)
      JOIN push_member_spans s ON s.user_id = q.user_id AND s.room_id = q.room_id AND s.left_at IS NULL
      LEFT JOIN push_read_marks u ON u.user_id = q.user_id AND u.room_id = q.room_id AND u.thread_id = ''
  ), shared AS (
    SELECT b.user_id, b.room_id, h.thread_id,
           h.seq - coalesce(p.seq, 0) - coalesce(r.n, 0) AS n, h.hl_seq - coalesce(p.hl_seq, 0) - coalesce(r.h, 0) AS h
      FROM b JOIN push_thread_heads h ON h.room_id = b.room_id AND h.stream_ordering > b.base
      LEFT JOIN push_read_marks t ON t.user_id = b.user_id AND t.room_id = b.room_id AND t.thread_id = h.thread_id
      CROSS JOIN LATERAL (SELECT GREATEST(b.base, coalesce(t.stream_ordering, 0)) AS since) x
      LEFT JOIN LATERAL (
        SELECT v.seq, v.hl_seq FROM push_room_verdicts v
         WHERE v.room_id = b.room_id AND v.thread_id = h.thread_id AND v.stream_ordering <= x.since
         ORDER BY v.stream_ordering DESC LIMIT 1
      ) p ON true
      LEFT JOIN LATERAL (
        SELECT count(*) AS n, count(*) FILTER (WHERE v.highlight) AS h FROM push_room_verdicts v
         WHERE v.room_id = b.room_id AND v.thread_id = h.thread_id AND v.redacted AND v.stream_ordering > x.since
      ) r ON true
     WHERE h.stream_ordering > x.since
  ), own AS (
    SELECT b.user_id, b.room_id, a.thread_id,
           sum(a.notify::int - a.class_notify::int) AS n, sum(a.highlight::int - a.class_highlight::int) AS h
      FROM b JOIN event_push_actions a ON a.user_id = b.user_id AND a.room_id = b.room_id AND a.stream_ordering > b.base
      LEFT JOIN push_read_marks t ON t.user_id = b.user_id AND t.room_id = b.room_id AND t.thread_id = a.thread_id
     WHERE a.stream_ordering > coalesce(t.stream_ordering, 0)
     GROUP BY 1, 2, 3
  )
  SELECT z.user_id, z.room_id, z.thread_id, GREATEST(sum(z.n), 0)::bigint, GREATEST(sum(z.h), 0)::bigint
    FROM (SELECT * FROM shared UNION ALL SELECT * FROM own) z
   GROUP BY 1, 2, 3 HAVING sum(z.n) > 0 OR sum(z.h) > 0;
END
$$;
