import type { RoomsRepo } from "../storage/rooms-repo.js";

/**
 * Room aliases held by application services (application service API
 * "Registration" and "Querying"), given by the appservice area.
 */
export interface AppServiceAliases {
  /** Asks the interested appservices to create an unknown alias; true when one did. */
  query(alias: string): Promise<boolean>;
  /** Whether the alias is in another party's exclusive namespace (creating it is M_EXCLUSIVE). */
  reservedFor(alias: string, userId: string): boolean;
}

/**
 * The rooms repository with alias resolution that asks the appservices when
 * an alias is unknown, then looks again. Used where an alias is resolved
 * (directory, joins), not where it is created.
 */
export function withAliasQuery(rooms: RoomsRepo, aliases: AppServiceAliases | undefined): RoomsRepo {
  if (!aliases) return rooms;
  const wrapped = Object.create(rooms) as RoomsRepo;
  wrapped.getAlias = async (alias: string) => {
    const row = await rooms.getAlias(alias);
    if (row || !(await aliases.query(alias))) return row;
    return rooms.getAlias(alias);
  };
  return wrapped;
}
