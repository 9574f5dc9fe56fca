import { describe, expect, it } from "vitest";
import { pickFields, splitPath } from "./event-fields.js";

describe("event_fields", () => {
  it("splits dot-separated paths with escapes", () => {
    expect(splitPath("content.body")).toEqual(["content", "body"]);
    expect(splitPath("content.m\\.relates_to")).toEqual(["content", "m.relates_to"]);
    expect(splitPath("a\\\\b.c")).toEqual(["a\\b", "c"]);
  });

  it("keeps only the listed fields", () => {
    const e = { type: "m.room.message", sender: "@a:x", content: { body: "hi", msgtype: "m.text", "m.relates_to": { rel_type: "x" } }, unsigned: { age: 1 } };
    expect(pickFields(e, ["type", "content.body", "content.m\\.relates_to", "missing.path"])).toEqual({
      type: "m.room.message",
      content: { body: "hi", "m.relates_to": { rel_type: "x" } },
    });
  });
});
