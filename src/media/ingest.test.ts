import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { IngestLimitError, ingestToFile } from "./ingest.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "ingest-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => path.join(dir, `f${n++}`);

function chunks(count: number, size: number): Readable {
  let i = 0;
  return new Readable({
    read() {
      this.push(i < count ? Buffer.alloc(size, i++ & 0xff) : null);
    },
  });
}

describe("ingestToFile", () => {
  it("writes, hashes and counts a stream", async () => {
    const f = file();
    const r = await ingestToFile(chunks(10, 1000), f, 10_000);
    const bytes = readFileSync(f);
    expect(r.size).toBe(10_000);
    expect(bytes.length).toBe(10_000);
    expect(r.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
  });

  it("stops at one byte over the limit without destroying the source", async () => {
    const src = chunks(1000, 1000);
    await expect(ingestToFile(src, file(), 9_999)).rejects.toBeInstanceOf(IngestLimitError);
    expect(src.destroyed).toBe(false);
  });

  it("has created and closed the partial file by the time it rejects, so the caller can discard it", async () => {
    const f = file();
    // Data already buffered arrives on the next tick, before the file's open has completed.
    const src = new Readable({ read() {} });
    src.push(Buffer.alloc(100));
    await expect(ingestToFile(src, f, 10)).rejects.toBeInstanceOf(IngestLimitError);
    expect(existsSync(f)).toBe(true);
    unlinkSync(f);
    expect(existsSync(f)).toBe(false);
  });

  it("fails when the source closes early", async () => {
    const src = new Readable({ read() {} });
    const p = ingestToFile(src, file(), 100);
    src.push(Buffer.from("abc"));
    src.destroy();
    await expect(p).rejects.toThrow(/before its body was complete/);
  });
});
