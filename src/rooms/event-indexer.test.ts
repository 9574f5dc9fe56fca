import { describe, expect, it } from "vitest";
import { toPrefixQuery } from "../storage/search-repo.js";
import { relationOf } from "./event-indexer.js";

describe("relationOf", () => {
  it("reads rel_type, event_id and an annotation's key", () => {
    expect(relationOf({ "m.relates_to": { rel_type: "m.replace", event_id: "$a" } })).toEqual({ relType: "m.replace", eventId: "$a" });
    expect(relationOf({ "m.relates_to": { rel_type: "m.annotation", event_id: "$a", key: "👍" } })).toEqual({ relType: "m.annotation", eventId: "$a", key: "👍" });
  });

  it("ignores replies without rel_type and malformed relations", () => {
    expect(relationOf({ "m.relates_to": { "m.in_reply_to": { event_id: "$a" } } })).toBeUndefined();
    expect(relationOf({ "m.relates_to": { rel_type: "m.thread", event_id: "not-an-id" } })).toBeUndefined();
    expect(relationOf({ "m.relates_to": { rel_type: "m.annotation", event_id: "$a" } })).toBeUndefined();
    expect(relationOf({ "m.relates_to": "x" })).toBeUndefined();
    expect(relationOf({})).toBeUndefined();
  });
});

describe("toPrefixQuery", () => {
  it("turns words into prefix terms and drops tsquery syntax", () => {
    expect(toPrefixQuery("Hello World")).toBe("'hello':* & 'world':*");
    expect(toPrefixQuery("a' | !b & (c)")).toBe("'a':* & 'b':* & 'c':*");
    expect(toPrefixQuery("café über")).toBe("'café':* & 'über':*");
    expect(toPrefixQuery("  !!! ")).toBeUndefined();
  });
});
