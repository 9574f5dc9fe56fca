import type { MembershipChange } from "../../storage/federation-sender-repo.js";

/**
 * Whether one server had a joined user in one room at each of `positions`
 * (ascending; "at" means once the event at that position was persisted),
 * from the memberships of its users right before the first position and the
 * changes from there on.
 */
export function joinedAtPositions(before: ReadonlyMap<string, string | null>, changes: readonly MembershipChange[], positions: readonly number[]): boolean[] {
  const now = new Map(before);
  let joined = 0;
  for (const m of now.values()) if (m === "join") joined++;
  const out: boolean[] = [];
  let i = 0;
  for (const p of positions) {
    for (; i < changes.length && changes[i]!.streamOrdering <= p; i++) {
      const c = changes[i]!;
      const was = now.get(c.userId) === "join";
      const is = c.membership === "join";
      now.set(c.userId, c.membership);
      joined += (is ? 1 : 0) - (was ? 1 : 0);
    }
    out.push(joined > 0);
  }
  return out;
}
