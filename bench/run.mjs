#!/usr/bin/env node
// `npm run bench [-- --scale tiny|small|medium] [--engine pglite|postgres|both] [--only a,b]`
// Starts the built server as its own process on each engine, drives it over
// HTTP with undici from this process, prints a table and writes
// bench/results/<date>-<engine>.json. Not part of `npm test`: timings are
// steered by, never asserted.
import { execSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startBenchServer } from "./lib/server.mjs";
import { SCENARIOS } from "./scenarios/index.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "small" },
    engine: { type: "string" },
    only: { type: "string" },
    list: { type: "boolean", default: false },
  },
});

if (values.list) {
  for (const s of SCENARIOS) console.log(`${s.name.padEnd(24)} ${s.description}`);
  process.exit(0);
}
if (!["tiny", "small", "medium"].includes(values.scale)) {
  console.error(`--scale must be tiny, small or medium (got ${values.scale})`);
  process.exit(2);
}
const only = values.only ? new Set(values.only.split(",")) : undefined;
if (only) {
  for (const name of only) if (!SCENARIOS.some((s) => s.name === name)) {
    console.error(`unknown scenario ${name}; --list shows them`);
    process.exit(2);
  }
}
const pgUrl = process.env.BENCH_DATABASE_URL;
const engines = values.engine === "both" ? ["pglite", "postgres"] : values.engine ? [values.engine] : pgUrl ? ["pglite", "postgres"] : ["pglite"];
if (engines.includes("postgres") && !pgUrl) {
  console.error("the postgres engine needs BENCH_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)");
  process.exit(2);
}

if (!existsSync(path.join(root, "dist/main.js")) || process.env.BENCH_SKIP_BUILD !== "1") {
  const b = spawnSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
  if (b.status !== 0) process.exit(1);
}

let commit = "unknown";
try {
  commit = execSync("git rev-parse --short HEAD", { cwd: root, encoding: "utf8" }).trim();
} catch {}

const selected = SCENARIOS.filter((s) => !only || only.has(s.name));
let failures = 0;

for (const engine of engines) {
  console.log(`\n== engine: ${engine}, scale: ${values.scale} ==`);
  const results = [];
  const server = selected.some((s) => s.needsServer !== false)
    ? await startBenchServer({ root, engine, databaseUrl: pgUrl })
    : undefined;
  const ordered = [...selected.filter((s) => !s.last), ...selected.filter((s) => s.last)];
  for (const scenario of ordered) {
    if (engine !== engines[0] && scenario.needsServer === false && !scenario.perEngine) continue; // engine-independent: once
    const started = performance.now();
    let result;
    try {
      result = await scenario.run({ root, server, scale: values.scale, engine });
    } catch (err) {
      result = { error: String(err?.stack ?? err) };
      failures++;
    }
    result.seconds = Math.round((performance.now() - started) / 100) / 10;
    results.push({ name: scenario.name, description: scenario.description, ...result });
    const shown = result.error ? `FAILED: ${result.error.split("\n")[0]}` : result.skipped ? `skipped: ${result.skipped}` : Object.entries(result.figures ?? {}).map(([k, v]) => `${k}=${v}`).join("  ");
    console.log(`${scenario.name.padEnd(24)} ${shown}`);
  }
  if (server) await server.stop();
  const out = {
    date: new Date().toISOString(),
    engine,
    scale: values.scale,
    commit,
    node: process.version,
    cores: os.cpus().length,
    memory_gb: Math.round(os.totalmem() / 2 ** 30),
    results,
  };
  // BENCH_RESULTS_DIR: write elsewhere (e.g. trial runs that must not replace the recorded results).
  const resultsDir = process.env.BENCH_RESULTS_DIR ? path.resolve(process.env.BENCH_RESULTS_DIR) : path.join(root, "bench/results");
  mkdirSync(resultsDir, { recursive: true });
  const file = path.join(resultsDir, `${out.date.slice(0, 10)}-${engine}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + "\n");
  console.log(`wrote ${path.relative(root, file)}`);
}

const completed = failures === 0;
console.log(completed ? "\nbench: every scenario completed" : `\nbench: ${failures} scenario(s) failed`);
process.exit(completed ? 0 : 1);
