-- event_push_actions takes one row per notified local member on every live
-- event: the largest write of the send path. Two changes make each row cheaper.
--
-- A live event's stream position is unique, so (user_id, stream_ordering)
-- identifies a verdict as well as (user_id, event_id) did, and the same index
-- serves the per-user reads in position order (pushers, GET /notifications):
-- one index fewer per row.
--
-- The actions are only ever stored and handed back whole (push gateways,
-- GET /notifications), never queried: text spares the jsonb parse per row.
DELETE FROM event_push_actions a USING event_push_actions b
 WHERE a.user_id = b.user_id AND a.stream_ordering = b.stream_ordering AND a.event_id > b.event_id;
ALTER TABLE event_push_actions DROP CONSTRAINT event_push_actions_pkey;
DROP INDEX event_push_actions_user;
ALTER TABLE event_push_actions ADD PRIMARY KEY (user_id, stream_ordering);
ALTER TABLE event_push_actions ALTER COLUMN actions TYPE text USING actions::text;
