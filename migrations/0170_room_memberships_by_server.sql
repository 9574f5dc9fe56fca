-- Which of a server's users are in a room (server-server history visibility
-- and access checks on every request another server makes): the server name
-- of a user id is what follows its first colon, as the query in
-- federation-reads-repo.ts spells it.
CREATE INDEX room_memberships_server ON room_memberships (room_id, (substr(user_id, strpos(user_id, ':') + 1)));
