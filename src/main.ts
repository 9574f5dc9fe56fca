#!/usr/bin/env node
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config/load.js";
import { createLogger } from "./logging.js";
import { startServer } from "./server.js";
import { isDroppedTypeFetch } from "./storage/dropped-connection.js";
import { VERSION } from "./version.js";

const USAGE = `Usage: npm start -- [--config FILE]

  -c, --config FILE   YAML configuration (see config.example.yaml); defaults apply without one
  -h, --help          show this help
  -v, --version       print the version`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: "string", short: "c" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
      strict: true,
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }

  let config;
  try {
    config = loadConfig(args.values.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`config error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }

  const log = createLogger(config.logging.level);
  // One rejection from inside postgres.js is harmless (see dropped-connection.ts); any other stays fatal.
  process.on("unhandledRejection", (err) => {
    if (isDroppedTypeFetch(err)) {
      log.warn({ err: (err as Error).message }, "a database connection closed while it was being opened");
      return;
    }
    throw err;
  });
  // Signal handlers go in before start-up: a SIGTERM that arrives while the
  // server is starting (or right after it said it was ready) must still mean a
  // clean shutdown, not the default of dying on the spot.
  let stopRequested: NodeJS.Signals | undefined;
  let requestStop: (signal: NodeJS.Signals) => void = (signal) => {
    stopRequested = signal;
  };
  let forceExit: () => void = () => process.exit(1);
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopRequested !== undefined) {
      log.warn({ signal }, "second signal: exiting without draining");
      forceExit();
      return;
    }
    requestStop(signal);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  let server;
  try {
    server = await startServer(config, { log });
  } catch (err) {
    log.fatal({ err }, "could not start");
    process.stderr.write(`could not start: ${(err as Error).message}\n`);
    return 1;
  }
  const running = server;

  return new Promise<number>((resolve) => {
    forceExit = () => resolve(1);
    requestStop = (signal) => {
      stopRequested = signal;
      log.info({ signal }, "signal received, draining");
      running.close().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, "error during shutdown");
          resolve(1);
        },
      );
    };
    if (stopRequested !== undefined) requestStop(stopRequested);
  });
}

main().then(
  (code) => {
    process.exitCode = code;
    // Let pino flush, then leave even if a stray handle remains.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err: unknown) => {
    process.stderr.write(`fatal: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
