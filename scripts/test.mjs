#!/usr/bin/env node
// `npm test`: build (spec-tests also start the built server as a real process),
// run every test on PGlite, then the storage and spec tests again on PostgreSQL
// when one answers. Prints one closing line "tests: N passed, N failed, N skipped".
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tmp = path.join(root, ".tmp");
mkdirSync(tmp, { recursive: true });
const extraArgs = process.argv.slice(2);

function run(cmd, args, env = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });
  return r.status ?? 1;
}

function canConnect(url) {
  return new Promise((resolve) => {
    let u;
    try {
      u = new URL(url);
    } catch {
      return resolve(false);
    }
    const socket = net.connect({ host: u.hostname || "127.0.0.1", port: Number(u.port || 5432) });
    socket.setTimeout(2000);
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("timeout", () => (socket.destroy(), resolve(false)));
    socket.once("error", () => resolve(false));
  });
}

const totals = { passed: 0, failed: 0, skipped: 0 };
let failedRuns = 0;

/** Why each failed run failed, printed again after the totals so that the end of the log says it. */
const reasons = [];

/** Runs a command with its output passed through and kept in `logFile`; resolves to the exit status. */
function runLogged(cmd, args, env, logFile) {
  return new Promise((resolve) => {
    const log = createWriteStream(logFile);
    const child = spawn(cmd, args, { cwd: root, stdio: ["inherit", "pipe", "pipe"], env: { ...process.env, ...env } });
    child.stdout.on("data", (b) => (process.stdout.write(b), log.write(b)));
    child.stderr.on("data", (b) => (process.stderr.write(b), log.write(b)));
    child.on("close", (code, signal) => log.end(() => resolve(code ?? (signal ? 1 : 0))));
  });
}

/** The parts of a vitest log that say why it failed: failed tests, unhandled errors, the summary. */
function failureExcerpt(logFile) {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips terminal colours
  const lines = readFileSync(logFile, "utf8").replace(/\x1b\[[0-9;]*m/g, "").split("\n");
  const keep = [];
  for (let i = 0; i < lines.length; i++) {
    if (/Unhandled (Error|Rejection)|FAIL |Error: |Test Files|Tests {2}|Errors {2}|close timed out|Worker exited/.test(lines[i])) {
      keep.push(...lines.slice(i, i + 6));
      i += 5;
    }
    if (keep.length > 200) break;
  }
  return keep.join("\n");
}

async function vitest(label, files, env) {
  const out = path.join(tmp, `vitest-${label}.json`);
  const logFile = path.join(tmp, `vitest-${label}.log`);
  rmSync(out, { force: true });
  console.log(`\n=== ${label}: vitest ${files.join(" ") || "(all)"} ===`);
  const status = await runLogged("npx", ["vitest", "run", ...files, "--reporter=default", "--reporter=json", `--outputFile.json=${out}`, ...extraArgs], env, logFile);
  let report;
  try {
    report = JSON.parse(readFileSync(out, "utf8"));
  } catch {
    console.error(`${label}: vitest wrote no report (exit ${status})`);
    reasons.push(`${label}: vitest wrote no report (exit ${status}):\n${failureExcerpt(logFile)}`);
    failedRuns++;
    totals.failed++;
    return;
  }
  totals.passed += report.numPassedTests;
  totals.failed += report.numFailedTests;
  totals.skipped += report.numPendingTests + report.numTodoTests;
  if (status !== 0 || report.numFailedTests > 0 || report.numFailedTestSuites > 0) {
    failedRuns++;
    reasons.push(
      `${label}: vitest exited ${status} with ${report.numFailedTests} failed tests and ${report.numFailedTestSuites} failed files:\n${failureExcerpt(logFile)}`,
    );
  }
  if (report.numTotalTests === 0) {
    console.error(`${label}: no test ran`);
    reasons.push(`${label}: no test ran`);
    failedRuns++;
  }
}

if (run("npm", ["run", "--silent", "build"]) !== 0) {
  console.error("build failed");
  process.exit(1);
}

await vitest("pglite", [], { TEST_DATABASE_URL: "none" });

const requested = process.env.TEST_DATABASE_URL;
const pgUrl = requested === "none" ? undefined : requested || "postgres://postgres@127.0.0.1:5432/postgres";
if (pgUrl && (await canConnect(pgUrl))) {
  await vitest("postgres", ["test/storage", "spec-tests"], { TEST_DATABASE_URL: pgUrl });
} else {
  console.log(
    `\nPostgreSQL ${pgUrl ? `at ${new URL(pgUrl).host} does not answer` : "run disabled (TEST_DATABASE_URL=none)"}: ` +
      "skipped the PostgreSQL run of the storage and spec tests (they ran on PGlite only).",
  );
}

for (const r of reasons) console.error(`\n${r}`);
console.log(`\ntests: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedRuns > 0 ? 1 : 0);
