import type { SqlQueryable } from "./sql.js";

export interface DirectoryEntry {
  user_id: string;
  displayname: string | null;
  avatar_url: string | null;
}

function likePattern(term: string): string {
  return `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * User directory search (client-server "User directory"). At a minimum the
 * spec wants users visible to the requester through rooms: sharing a room
 * with them, or joined to a room with a public join rule or world_readable
 * history (read from the current state, so entries follow changes of either).
 * `allLocalUsers` adds every active local account as well.
 * Reads the rooms area's membership and state tables.
 */
export class UserDirectoryRepo {
  constructor(private readonly db: SqlQueryable) {}

  async search(requester: string, term: string, limit: number, opts: { allLocalUsers: boolean }): Promise<DirectoryEntry[]> {
    return this.db.query<DirectoryEntry & Record<string, unknown>>(
      `WITH shared_rooms AS (
         SELECT room_id FROM room_memberships WHERE user_id = $1 AND membership = 'join'
       ),
       open_rooms AS (
         SELECT cs.room_id FROM current_state cs JOIN events e ON e.event_id = cs.event_id
          WHERE cs.type = 'm.room.join_rules' AND cs.state_key = ''
            AND (e.pdu::jsonb -> 'content' ->> 'join_rule') = 'public'
         UNION
         SELECT cs.room_id FROM current_state cs JOIN events e ON e.event_id = cs.event_id
          WHERE cs.type = 'm.room.history_visibility' AND cs.state_key = ''
            AND (e.pdu::jsonb -> 'content' ->> 'history_visibility') = 'world_readable'
       ),
       -- Members of public or world-readable rooms, and the others in the requester's
       -- rooms: a room shared with nobody does not make the requester findable.
       members AS (
         SELECT DISTINCT ON (m.user_id) m.user_id,
                e.pdu::jsonb -> 'content' ->> 'displayname' AS displayname,
                e.pdu::jsonb -> 'content' ->> 'avatar_url' AS avatar_url
           FROM room_memberships m
           JOIN events e ON e.event_id = m.event_id
          WHERE m.membership = 'join'
            AND (m.room_id IN (SELECT room_id FROM open_rooms) OR (m.user_id <> $1 AND m.room_id IN (SELECT room_id FROM shared_rooms)))
          ORDER BY m.user_id, m.stream_ordering DESC
       ),
       candidates AS (
         SELECT user_id, displayname, avatar_url FROM members
         UNION ALL
         SELECT u.user_id, NULL, NULL FROM users u
          WHERE $4 AND NOT u.is_guest AND u.user_id NOT IN (SELECT user_id FROM members)
       ),
       named AS (
         SELECT c.user_id,
                CASE WHEN u.user_id IS NULL THEN c.displayname ELSE p.displayname END AS displayname,
                CASE WHEN u.user_id IS NULL THEN c.avatar_url ELSE p.avatar_url END AS avatar_url
           FROM candidates c
           LEFT JOIN users u ON u.user_id = c.user_id
           LEFT JOIN profiles p ON p.user_id = c.user_id
          WHERE u.user_id IS NULL OR NOT u.deactivated
       )
       SELECT user_id, displayname, avatar_url FROM named
        WHERE user_id ILIKE $2 OR displayname ILIKE $2
        ORDER BY (displayname IS NULL), lower(coalesce(displayname, user_id)), user_id
        LIMIT $3`,
      [requester, likePattern(term), limit, opts.allLocalUsers],
    );
  }
}
