import { defineConfig } from "vitest/config";

// Two cores on the reference machine: keep at most two test files running at
// once, since each spec-test file boots a full server with its own database.
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts", "spec-tests/**/*.test.ts"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
