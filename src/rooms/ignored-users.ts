/** The users a user ignores (client-server "Ignoring Users", `m.ignored_user_list`). */
export interface IgnoredUsers {
  ignoredBy(userId: string): Promise<ReadonlySet<string>>;
}

export const noIgnoredUsers: IgnoredUsers = { ignoredBy: async () => new Set() };

/** Reads `m.ignored_user_list` account data: `{"ignored_users": {"@user:server": {}}}`. */
export function ignoredUsersFromAccountData(get: (userId: string) => Promise<Record<string, unknown> | undefined>): IgnoredUsers {
  return {
    async ignoredBy(userId) {
      const content = await get(userId);
      const list = content?.ignored_users;
      if (typeof list !== "object" || list === null || Array.isArray(list)) return new Set();
      return new Set(Object.keys(list).filter((u) => u !== userId));
    },
  };
}

/**
 * For timelines served to a user (e.g. /sync): leaves out non-state events
 * sent by users they ignore. State events stay, so room state remains whole.
 */
export function withoutIgnored<T extends { row: { sender: string; stateKey: string | null } }>(events: readonly T[], ignored: ReadonlySet<string>): T[] {
  if (ignored.size === 0) return [...events];
  return events.filter((e) => e.row.stateKey !== null || !ignored.has(e.row.sender));
}

/** Invites from ignored users are not shown to the invitee (client-server "Ignoring Users"). */
export function isIgnoredInvite(inviter: string, ignored: ReadonlySet<string>): boolean {
  return ignored.has(inviter);
}
