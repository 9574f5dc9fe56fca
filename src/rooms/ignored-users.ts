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
