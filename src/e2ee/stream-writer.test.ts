import { describe, expect, it } from "vitest";
import { StreamWriter } from "./stream-writer.js";

describe("StreamWriter", () => {
  it("runs writes one after another and advances `current` only on commit", async () => {
    const w = new StreamWriter(7);
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a = w.run(async () => {
      log.push("a start");
      await gate;
      log.push("a end");
      return 8;
    });
    const b = w.run(async () => {
      log.push("b start");
      return 9;
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(w.current).toBe(7);
    expect(log).toEqual(["a start"]);
    release();
    expect(await a).toBe(8);
    expect(await b).toBe(9);
    expect(log).toEqual(["a start", "a end", "b start"]);
    expect(w.current).toBe(9);
  });

  it("a failed write does not block the next and leaves `current` alone", async () => {
    const w = new StreamWriter(0);
    const failed = w.run(async () => {
      throw new Error("boom");
    });
    const next = w.run(async () => 1);
    const none = w.run(async () => null);
    await expect(failed).rejects.toThrow("boom");
    expect(await next).toBe(1);
    expect(await none).toBeNull();
    expect(w.current).toBe(1);
  });
});
