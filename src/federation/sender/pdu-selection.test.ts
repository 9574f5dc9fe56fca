import { describe, expect, it } from "vitest";
import type { StreamEventRef } from "../../delivery/index.js";
import { joinedAtPositions } from "./membership-timeline.js";
import { selectPdus, type RoomCatchUp } from "./pdu-selection.js";

const ref = (so: number, roomId = "!a"): StreamEventRef => ({
  streamOrdering: so,
  eventId: `$${so}`,
  roomId,
  type: "m.room.message",
  stateKey: null,
  sender: "@u:hs",
});
const ids = (rs: readonly StreamEventRef[]) => rs.map((r) => r.streamOrdering);

describe("selectPdus", () => {
  it("takes everything when it fits", () => {
    const s = selectPdus([ref(1), ref(3), ref(4)], new Map());
    expect(ids(s.pdus)).toEqual([1, 3, 4]);
    expect(s.through).toBeUndefined();
  });

  it("stops at 50 PDUs; the transaction covers the batch up to before the first left out", () => {
    const refs = Array.from({ length: 60 }, (_, i) => ref(10 + 2 * i));
    const s = selectPdus(refs, new Map());
    expect(s.pdus).toHaveLength(50);
    expect(s.through).toBe(refs[50]!.streamOrdering - 1);
    expect(selectPdus(refs, new Map(), 3).through).toBe(refs[3]!.streamOrdering - 1);
  });

  it("a room being caught up contributes its newest events once, in place of its backlog", () => {
    const catchUp: RoomCatchUp = { events: [ref(90, "!b"), ref(95, "!b")], coverTo: 95 };
    const s = selectPdus([ref(1), ref(2, "!b"), ref(3, "!b"), ref(4)], new Map([["!b", catchUp]]));
    expect(ids(s.pdus)).toEqual([1, 90, 95, 4]);
    expect(s.covered).toEqual({ "!b": 95 });
  });

  it("a catch-up that would overflow the transaction waits for the next one", () => {
    const big: RoomCatchUp = { events: Array.from({ length: 50 }, (_, i) => ref(100 + i, "!b")), coverTo: 149 };
    const s = selectPdus([ref(1), ref(2, "!b")], new Map([["!b", big]]));
    expect(ids(s.pdus)).toEqual([1]);
    expect(s.through).toBe(1);
    expect(s.covered).toEqual({});
    const alone = selectPdus([ref(2, "!b"), ref(3)], new Map([["!b", big]]));
    expect(alone.pdus).toHaveLength(50);
    expect(alone.through).toBe(2);
    expect(alone.covered).toEqual({ "!b": 149 });
  });
});

describe("joinedAtPositions", () => {
  it("follows joins and leaves of a server's users across positions", () => {
    const before = new Map<string, string | null>([["@a:b", "join"]]);
    const changes = [
      { streamOrdering: 5, userId: "@c:b", membership: "join" },
      { streamOrdering: 6, userId: "@a:b", membership: "leave" },
      { streamOrdering: 8, userId: "@c:b", membership: "ban" },
      { streamOrdering: 9, userId: "@a:b", membership: "join" },
    ];
    expect(joinedAtPositions(before, changes, [4, 5, 6, 7, 8, 10])).toEqual([true, true, true, true, false, true]);
    expect(joinedAtPositions(new Map(), [], [1, 2])).toEqual([false, false]);
    expect(joinedAtPositions(new Map([["@x:b", "invite"]]), [{ streamOrdering: 3, userId: "@x:b", membership: "join" }], [2, 3])).toEqual([false, true]);
  });
});
