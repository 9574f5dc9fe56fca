#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. BENCH_CPU_PROF=dir
// npm run bench): self time aggregated by function and by file, hottest first.
// Usage: node bench/lib/profile-summary.mjs FILE.cpuprofile [--top 25]
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "25" } } });
if (positionals.length !== 1) {
  console.error("usage: node bench/lib/profile-summary.mjs FILE.cpuprofile [--top N]");
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], "utf8"));
const top = Number(values.top);

// Sample counts weighted by the time until the next sample (timeDeltas).
const selfUs = new Map();
const { samples, timeDeltas } = profile;
for (let i = 0; i < samples.length; i++) {
  const dt = timeDeltas[i + 1] ?? 0;
  selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + Math.max(0, dt));
}

const shortFile = (url) => {
  if (!url) return "(native)";
  const p = url.replace(/^file:\/\//, "");
  const nm = p.lastIndexOf("node_modules/");
  if (nm >= 0) return p.slice(nm + "node_modules/".length);
  const dist = p.indexOf("/dist/");
  if (dist >= 0) return p.slice(dist + 1);
  return p.startsWith("node:") ? p : path.basename(p);
};

// Native functions (socket writes, crypto) are named after their nearest JS caller.
const parent = new Map();
for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node);
function jsCaller(node) {
  for (let p = parent.get(node.id); p; p = parent.get(p.id)) {
    if (p.callFrame.url) return `${p.callFrame.functionName || "(anonymous)"} ${shortFile(p.callFrame.url)}:${p.callFrame.lineNumber + 1}`;
  }
  return "?";
}

const byFunction = new Map();
const byFile = new Map();
const byPackage = new Map();
let total = 0;
let idle = 0;
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  if (us === 0) continue;
  total += us;
  const cf = node.callFrame;
  if (cf.functionName === "(idle)") {
    idle += us;
    continue;
  }
  const file = shortFile(cf.url);
  const native = !cf.url && !cf.functionName.startsWith("(");
  const fn = native ? `${cf.functionName} (native) <- ${jsCaller(node)}` : `${cf.functionName || "(anonymous)"}  ${file}${cf.url ? `:${cf.lineNumber + 1}` : ""}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  byFile.set(file, (byFile.get(file) ?? 0) + us);
  // Where the time goes at a glance: our code, a dependency, node internals, or the engine.
  const pkg = !cf.url
    ? cf.functionName.startsWith("(") ? cf.functionName : "(native)"
    : file.startsWith("dist/")
      ? `dist/${file.split("/")[1]}`
      : file.startsWith("node:")
        ? "node internals"
        : file.startsWith("@")
          ? file.split("/").slice(0, 2).join("/")
          : file.split("/")[0];
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
}

const busy = total - idle;
function print(title, map) {
  console.log(`\n${title} (self time; % of non-idle ${(busy / 1e6).toFixed(2)} s)`);
  const rows = [...map].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [k, us] of rows) console.log(`${((us / busy) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`);
}
console.log(`profile: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (${((busy / total) * 100).toFixed(0)}%)`);
print("by area", byPackage);
print("by file", byFile);
print("by function", byFunction);
