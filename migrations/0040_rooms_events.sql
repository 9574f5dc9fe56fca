-- Rooms, the event DAG, state storage, memberships.

CREATE TABLE rooms (
  room_id text PRIMARY KEY,
  room_version text NOT NULL,
  creator text NOT NULL,
  -- Published room directory ("public" | "private").
  visibility text NOT NULL DEFAULT 'private',
  created_ts bigint NOT NULL
);
CREATE INDEX rooms_public ON rooms (visibility) WHERE visibility = 'public';

-- Global stream of room events. Values may have gaps (rolled back writers);
-- readers only ever read up to the writer's "persisted up to" position.
CREATE SEQUENCE events_stream_seq;

CREATE TABLE events (
  stream_ordering bigint PRIMARY KEY,
  event_id text NOT NULL UNIQUE,
  room_id text NOT NULL,
  type text NOT NULL,
  state_key text,
  sender text NOT NULL,
  -- Topological ordering is (depth, stream_ordering).
  depth bigint NOT NULL,
  origin_server_ts bigint NOT NULL,
  -- The full PDU as canonical JSON text, exactly as hashed and signed.
  pdu text NOT NULL,
  outlier boolean NOT NULL DEFAULT false,
  rejected_reason text,
  -- Set once a redaction of this event has been applied (clients get the redacted form).
  redacted_by text,
  -- For state events: the event this one replaced in the state (unsigned.replaces_state).
  replaces_state text,
  -- State before / after this event (state_groups.id). Equal for message events.
  state_before bigint,
  state_after bigint
);
CREATE INDEX events_room_topo ON events (room_id, depth, stream_ordering);
CREATE INDEX events_room_stream ON events (room_id, stream_ordering);

CREATE TABLE event_edges (
  event_id text NOT NULL,
  prev_event_id text NOT NULL,
  PRIMARY KEY (event_id, prev_event_id)
);
CREATE INDEX event_edges_prev ON event_edges (prev_event_id);

CREATE TABLE event_auth_edges (
  event_id text NOT NULL,
  auth_event_id text NOT NULL,
  PRIMARY KEY (event_id, auth_event_id)
);

CREATE TABLE room_forward_extremities (
  room_id text NOT NULL,
  event_id text NOT NULL,
  PRIMARY KEY (room_id, event_id)
);

-- Redactions, also those whose target is not (yet) known.
CREATE TABLE redactions (
  event_id text PRIMARY KEY,
  redacts text NOT NULL
);
CREATE INDEX redactions_redacts ON redactions (redacts);

-- State groups: a group is either a full snapshot (prev_group NULL) or a
-- delta against prev_group; chains are cut by a new full snapshot every
-- so many deltas, so reading a group touches a bounded number of rows.
CREATE TABLE state_groups (
  id bigint PRIMARY KEY,
  room_id text NOT NULL,
  prev_group bigint,
  chain_length integer NOT NULL
);
CREATE SEQUENCE state_group_seq;

CREATE TABLE state_group_entries (
  group_id bigint NOT NULL,
  type text NOT NULL,
  state_key text NOT NULL,
  -- NULL in a delta removes the key (state resolution may drop keys).
  event_id text,
  PRIMARY KEY (group_id, type, state_key)
);

CREATE TABLE current_state (
  room_id text NOT NULL,
  type text NOT NULL,
  state_key text NOT NULL,
  event_id text NOT NULL,
  PRIMARY KEY (room_id, type, state_key)
);

-- The current membership of every user who ever had one in a room.
CREATE TABLE room_memberships (
  room_id text NOT NULL,
  user_id text NOT NULL,
  membership text NOT NULL,
  event_id text NOT NULL,
  stream_ordering bigint NOT NULL,
  forgotten boolean NOT NULL DEFAULT false,
  PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_memberships_user ON room_memberships (user_id, membership);

-- Client transaction ids: PUT /send and /redact are idempotent per
-- (user, device, room, endpoint, txn id), also across restarts.
CREATE TABLE event_txn_ids (
  user_id text NOT NULL,
  device_id text NOT NULL,
  room_id text NOT NULL,
  kind text NOT NULL,
  txn_id text NOT NULL,
  event_id text NOT NULL,
  created_ts bigint NOT NULL,
  PRIMARY KEY (user_id, device_id, room_id, kind, txn_id)
);
CREATE INDEX event_txn_ids_event ON event_txn_ids (event_id);

CREATE TABLE room_aliases (
  alias text PRIMARY KEY,
  room_id text NOT NULL,
  creator text NOT NULL,
  created_ts bigint NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id);
