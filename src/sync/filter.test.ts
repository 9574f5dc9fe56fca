import { describe, expect, it } from "vitest";
import { applyLimit, eventPasses, resolveSyncFilter, roomPasses, timelineLimit } from "./filter.js";

describe("sync filters", () => {
  it("types accept a trailing * wildcard; not_types and not_senders win", () => {
    const f = { types: ["m.room.*"], not_types: ["m.room.member"], not_senders: ["@spam:x"] };
    expect(eventPasses(f, "m.room.message", "@a:x")).toBe(true);
    expect(eventPasses(f, "m.room.member", "@a:x")).toBe(false);
    expect(eventPasses(f, "m.reaction", "@a:x")).toBe(false);
    expect(eventPasses(f, "m.room.message", "@spam:x")).toBe(false);
    expect(eventPasses({ senders: ["@a:x"] }, "m.typing", undefined)).toBe(true);
    expect(eventPasses(undefined, "anything", "@b:x")).toBe(true);
  });

  it("rooms and not_rooms", () => {
    expect(roomPasses({ rooms: ["!a:x"] }, "!a:x")).toBe(true);
    expect(roomPasses({ rooms: ["!a:x"] }, "!b:x")).toBe(false);
    expect(roomPasses({ rooms: ["!a:x"], not_rooms: ["!a:x"] }, "!a:x")).toBe(false);
  });

  it("timeline limits default to 10 and are bounded; event limits keep the newest", () => {
    expect(timelineLimit(undefined)).toBe(10);
    expect(timelineLimit({ limit: 0 })).toBe(0);
    expect(timelineLimit({ limit: 1_000_000 })).toBe(500);
    expect(applyLimit([1, 2, 3], { limit: 2 })).toEqual([2, 3]);
  });

  it("resolves inline JSON and stored ids; bad ones are 400/404", async () => {
    const store = { getFilter: async (_u: string, id: number) => (id === 3 ? { room: { timeline: { limit: 2 } } } : undefined) };
    expect(await resolveSyncFilter(store, "@a:x", undefined)).toEqual({});
    expect(await resolveSyncFilter(store, "@a:x", "3")).toEqual({ room: { timeline: { limit: 2 } } });
    expect(await resolveSyncFilter(store, "@a:x", '{"presence":{"types":[]}}')).toEqual({ presence: { types: [] } });
    await expect(resolveSyncFilter(store, "@a:x", "4")).rejects.toMatchObject({ status: 404, errcode: "M_NOT_FOUND" });
    await expect(resolveSyncFilter(store, "@a:x", "{nope")).rejects.toMatchObject({ status: 400, errcode: "M_INVALID_PARAM" });
    await expect(resolveSyncFilter(store, "@a:x", '{"room":{"timeline":{"limit":-1}}}')).rejects.toMatchObject({ status: 400, errcode: "M_INVALID_PARAM" });
  });
});
