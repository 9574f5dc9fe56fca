import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, flushLog } from "./logging.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hs-log-"));
  dirs.push(dir);
  return path.join(dir, "out.log");
}

const read = (file: string) => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
};
const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
};

describe("batched log output", () => {
  it("gathers lines into one write and writes them on flushLog, long before the periodic flush", async () => {
    const file = tempFile();
    const log = createLogger("info", undefined, { dest: file, flushIntervalMs: 60_000 });
    for (let i = 0; i < 5; i++) log.info({ i }, "request");
    await new Promise((r) => setTimeout(r, 50));
    // Below the buffer size and before the interval: nothing written yet.
    expect(read(file)).toBe("");
    log.info("homeserver ready");
    flushLog(log);
    await until(() => read(file).includes("homeserver ready"));
    const lines = read(file).trim().split("\n").map((l) => JSON.parse(l) as { msg: string });
    expect(lines.map((l) => l.msg)).toEqual(["request", "request", "request", "request", "request", "homeserver ready"]);
  });

  it("writes on its own once the buffer fills or the interval passes", async () => {
    const big = tempFile();
    const full = createLogger("info", undefined, { dest: big, bufferBytes: 200, flushIntervalMs: 60_000 });
    for (let i = 0; i < 10; i++) full.info({ i }, "request");
    await until(() => read(big).length > 0);
    expect(read(big).split("\n").length).toBeGreaterThan(2);

    const slow = tempFile();
    const timed = createLogger("info", undefined, { dest: slow, flushIntervalMs: 20 });
    timed.info("one line");
    await until(() => read(slow).includes("one line"));
    expect(read(slow)).toContain("one line");
  });
});
