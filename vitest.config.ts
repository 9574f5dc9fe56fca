import { defineConfig } from "vitest/config";
import { isDroppedTypeFetch } from "./src/storage/dropped-connection.js";

// Scale-out tests run several processes on one PostgreSQL, and the socket test
// connects to one: only when one is given (the PostgreSQL run of
// scripts/test.mjs), never on PGlite.
const url = process.env.TEST_DATABASE_URL;
const postgresOnly = ["spec-tests/scale-out/**", "test/storage/postgres-socket.test.ts"];

// Two cores on the reference machine: keep at most two test files running at
// once, since each spec-test file boots a full server with its own database.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts", "spec-tests/**/*.test.ts"],
    exclude: ["**/node_modules/**", ...(url && url !== "none" ? [] : postgresOnly)],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    // Servers end their database pools while a test file winds down: postgres.js's own unawaited type read
    // on a connection that closed then is not a failure of ours (the server process logs it, see main.ts).
    onUnhandledError: (err) => !isDroppedTypeFetch(err),
    hookTimeout: 120_000,
  },
});
