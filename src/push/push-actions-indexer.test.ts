import { describe, expect, it } from "vitest";
import type { IndexedEvent } from "../rooms/event-indexer.js";
import type { EventVerdicts, PushActionsRepo, RoomForPush } from "../storage/push-actions-repo.js";
import type { SqlQueryable } from "../storage/sql.js";
import { PushActionsIndexer } from "./push-actions-indexer.js";

const ROOM = "!r:hs";

/** A repo that serves one room of two local members and records what is asked and stored. */
function fakeRepo() {
  const calls = { roomForPush: 0 };
  const recorded: Array<{ eventId: string; verdicts: EventVerdicts }> = [];
  const room: RoomForPush = {
    members: ["@s:hs", "@a:hs"].map((userId) => ({ userId, changes: null })),
    state: [],
  };
  const repo = {
    async roomForPush() {
      calls.roomForPush++;
      return room;
    },
    async ruleChanges() {
      return new Map();
    },
    async currentState() {
      return [];
    },
    async relationParent() {
      return undefined;
    },
    async recordEvent(_tx: SqlQueryable, e: { eventId: string }, _own: string | undefined, verdicts: EventVerdicts) {
      recorded.push({ eventId: e.eventId, verdicts });
    },
  };
  return { repo: repo as unknown as PushActionsRepo, calls, recorded, room };
}

const tx = (): SqlQueryable => ({ query: async () => [], exec: async () => undefined }) as unknown as SqlQueryable;

let pos = 0;
function message(o: Partial<IndexedEvent> = {}): IndexedEvent {
  pos++;
  return {
    eventId: `$m${pos}`,
    roomId: ROOM,
    type: "m.room.message",
    stateKey: undefined,
    sender: "@s:hs",
    depth: pos,
    streamOrdering: pos,
    originServerTs: pos,
    content: { msgtype: "m.text", body: `hello ${pos}` },
    currentStateChanged: false,
    ...o,
  };
}

describe("PushActionsIndexer", () => {
  it("reads the room once per transaction while its current state stays, and again after it moves", async () => {
    const { repo, calls, recorded, room } = fakeRepo();
    const indexer = new PushActionsIndexer(repo, "hs");
    const t1 = tx();
    await indexer.onPersist(t1, message());
    await indexer.onPersist(t1, message());
    expect(calls.roomForPush).toBe(1);
    // A state event moves the current state: the next event reads the room again, and so does a redaction.
    room.members.push({ userId: "@c:hs", changes: null });
    await indexer.onPersist(
      t1,
      message({ type: "m.room.member", stateKey: "@c:hs", sender: "@c:hs", content: { membership: "join" }, currentStateChanged: true }),
    );
    await indexer.onPersist(t1, message());
    expect(calls.roomForPush).toBe(2);
    await indexer.onPersist(t1, message({ type: "m.room.redaction", content: {} }));
    expect(calls.roomForPush).toBe(3);
    // A message that resolved forks moved the state too.
    await indexer.onPersist(t1, message({ currentStateChanged: true }));
    expect(calls.roomForPush).toBe(4);
    // Another transaction reads afresh.
    await indexer.onPersist(tx(), message());
    expect(calls.roomForPush).toBe(5);
    // Two members: a direct room (.m.rule.room_one_to_one); three after the join: .m.rule.message (no rule for a redaction).
    const oneToOne = JSON.stringify(["notify", { set_tweak: "sound", value: "default" }]);
    expect(recorded.map((r) => r.verdicts.shared?.actions)).toEqual([oneToOne, oneToOne, undefined, '["notify"]', undefined, '["notify"]', '["notify"]']);
  });
});
