import { describe, expect, it } from "vitest";
import { MatrixError } from "../../http/errors.js";
import { normaliseRequest, slidingRequestSchema } from "./request.js";

const parse = (body: unknown, query: { pos?: string; timeout?: string } = {}) => normaliseRequest(slidingRequestSchema.parse(body), query, "@me:x");

describe("sliding sync request", () => {
  it("reads both list shapes and filter spellings", () => {
    const r = parse({
      lists: {
        a: { ranges: [[0, 9]], timeline_limit: 5, required_state: [["m.room.create", ""]], filters: { is_invite: true } },
        b: { range: [10, 19], timeline_limit: 1000, required_state: { include: [{}] }, filters: { is_invited: false } },
      },
    });
    expect(r.lists.get("a")).toMatchObject({ ranges: [[0, 9]], timelineLimit: 5, filters: { isInvite: true } });
    // timeline_limit is capped.
    expect(r.lists.get("b")).toMatchObject({ ranges: [[10, 19]], timelineLimit: 100, filters: { isInvite: false } });
    expect(r.connId).toBe("");
    expect(r.timeoutMs).toBe(0);
  });

  it("takes pos and timeout from the query string too, the body first", () => {
    expect(parse({}, { pos: "p1_5", timeout: "3000" })).toMatchObject({ pos: "p1_5", timeoutMs: 3000 });
    expect(parse({ pos: "p1_6", timeout: 10 }, { pos: "p1_5", timeout: "3000" })).toMatchObject({ pos: "p1_6", timeoutMs: 10 });
    expect(() => parse({}, { timeout: "soon" })).toThrow(MatrixError);
  });

  it("refuses reversed ranges, bad list keys and too many subscriptions", () => {
    expect(() => parse({ lists: { a: { ranges: [[3, 1]], timeline_limit: 1 } } })).toThrow(/range/);
    expect(() => parse({ lists: { "a b": { timeline_limit: 1 } } })).toThrow(/opaque/);
    const subs = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`!r${i}:x`, { timeline_limit: 1 }]));
    expect(() => parse({ room_subscriptions: subs })).toThrow(/100/);
  });
});
