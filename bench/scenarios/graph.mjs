// State resolution over the event graph (bench/graph/merge-bench.mjs), in its own process, per engine.
import { spawnSync } from "node:child_process";
import path from "node:path";

const SIZES = { tiny: { members: 100, branch: 20 }, small: { members: 5000, branch: 1000 }, medium: { members: 5000, branch: 1000 } };

export const graphMerge = {
  name: "graph_merge",
  description: "merge of two branches of state changes in a big room: resolution time, state bytes per event",
  needsServer: false,
  perEngine: true,
  async run({ root, scale, engine }) {
    const size = SIZES[scale] ?? SIZES.small;
    const args = [path.join(root, "bench/graph/merge-bench.mjs"), "--json", "--members", String(size.members), "--branch", String(size.branch)];
    if (engine === "postgres") args.push("--database-url", process.env.BENCH_DATABASE_URL);
    const r = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`graph merge bench failed: ${r.stderr.slice(-2000)}`);
    return { figures: JSON.parse(r.stdout.trim().split("\n").pop()).results };
  },
};
