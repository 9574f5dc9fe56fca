// The event core's micro-benchmarks (bench/core/), run in their own process.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

export const core = {
  name: "core",
  description: "event core micro-benchmarks: Ed25519, canonical JSON, event ids, state resolution",
  needsServer: false,
  async run({ root, scale }) {
    const script = path.join(root, "bench/core/core-bench.mjs");
    if (!existsSync(script)) return { skipped: "bench/core/core-bench.mjs not present" };
    const r = spawnSync(process.execPath, [script, "--json", "--scale", scale === "tiny" ? "tiny" : "full"], {
      cwd: root,
      encoding: "utf8",
      maxBuffer: 16 * 1024 * 1024,
    });
    if (r.status !== 0) throw new Error(`core bench failed: ${r.stderr}`);
    const { results } = JSON.parse(r.stdout);
    // Flatten {ms, ...} records (state resolution runs) into "<name>_ms" figures.
    const figures = {};
    for (const [k, v] of Object.entries(results)) {
      if (typeof v === "number") figures[k] = Math.round(v * 100) / 100;
      else if (v && typeof v.ms === "number") figures[`${k}_ms`] = Math.round(v.ms * 10) / 10;
    }
    return { figures };
  },
};
