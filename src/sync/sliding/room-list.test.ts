import { describe, expect, it } from "vitest";
import type { ListConfig } from "./request.js";
import { applyList, type FilterFacts, type RoomEntry } from "./room-list.js";

const entry = (roomId: string, membership = "join"): RoomEntry => ({
  roomId,
  membership,
  membershipEventId: `$m${roomId}`,
  membershipPos: 1,
  activity: 1,
  bumpStamp: 1,
  stateAfter: null,
  depth: 1,
});
const rooms = ["!a", "!b", "!c", "!d", "!e"].map((r) => entry(r, r === "!e" ? "invite" : "join"));
const facts: FilterFacts = {
  dmRooms: new Set(["!a"]),
  tags: new Map([
    ["!b", ["m.favourite"]],
    ["!c", ["m.favourite", "m.lowpriority"]],
  ]),
  encrypted: new Set(["!a", "!c"]),
  roomTypes: new Map([["!d", "m.space"]]),
  spaceChildren: new Map([["!d", new Set(["!b"])]]),
};
const list = (filters: ListConfig["filters"], ranges?: Array<[number, number]>): ListConfig => ({
  timelineLimit: 1,
  requiredState: { include: [], exclude: [], lazyMembers: false },
  ranges,
  filters,
});
const ids = (l: ListConfig) => applyList(l, rooms, facts).rooms.map((r) => r.roomId);

describe("sliding sync lists", () => {
  it("cuts the filtered list to its ranges and counts the whole filtered list", () => {
    expect(applyList(list({}, [[1, 2]]), rooms, facts)).toMatchObject({ count: 5, rooms: [{ roomId: "!b" }, { roomId: "!c" }] });
    expect(
      ids(
        list({}, [
          [0, 0],
          [3, 100],
        ]),
      ),
    ).toEqual(["!a", "!d", "!e"]);
    expect(ids(list({}, [[10, 20]]))).toEqual([]);
    expect(applyList(list({ isEncrypted: true }, [[1, 1]]), rooms, facts)).toMatchObject({ count: 2, rooms: [{ roomId: "!c" }] });
  });

  it("applies every filter, not_* winning over their positive forms", () => {
    expect(ids(list({ isDm: true }))).toEqual(["!a"]);
    expect(ids(list({ isDm: false }))).toEqual(["!b", "!c", "!d", "!e"]);
    expect(ids(list({ isInvite: true }))).toEqual(["!e"]);
    expect(ids(list({ isEncrypted: false }))).toEqual(["!b", "!d", "!e"]);
    expect(ids(list({ roomTypes: ["m.space"] }))).toEqual(["!d"]);
    expect(ids(list({ roomTypes: [null] }))).toEqual(["!a", "!b", "!c", "!e"]);
    expect(ids(list({ roomTypes: ["m.space"], notRoomTypes: ["m.space"] }))).toEqual([]);
    expect(ids(list({ tags: ["m.favourite"], notTags: ["m.lowpriority"] }))).toEqual(["!b"]);
    expect(ids(list({ spaces: ["!d"] }))).toEqual(["!b"]);
    expect(ids(list({ spaces: ["!unknown"] }))).toEqual([]);
  });
});
