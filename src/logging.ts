import { pino, type Logger } from "pino";

export type { Logger };

export interface LogBatching {
  /** File descriptor or file path the lines go to (default: stdout). */
  dest?: number | string;
  /** Lines are gathered until this many bytes are pending, then written together. */
  bufferBytes?: number;
  /** Whatever is pending is written at least this often (ms). */
  flushIntervalMs?: number;
}

// One write per ~8 KB of lines (about 60 access-log lines) instead of one per line,
// and never more than 50 ms late: a tail of the log still looks live.
const DEFAULT_BUFFER_BYTES = 8192;
const DEFAULT_FLUSH_INTERVAL_MS = 50;

/**
 * Structured JSON logs on stdout, written asynchronously and in batches: a
 * request never waits for the terminal or pipe, and the access-log line of
 * every request is not its own write. Pending lines are written when the
 * buffer fills, every `flushIntervalMs`, on `flushLog` (the start-up line that
 * launchers wait for) and synchronously when the process exits (pino's exit
 * hook: `process.exit` after SIGTERM, an uncaught error, or the end of the
 * event loop). Authorization headers and access tokens are redacted should a
 * caller ever log a request object; the HTTP layer logs only the path, never
 * the query string, where a deprecated `access_token` may sit.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream, batching: LogBatching = {}): Logger {
  const stream =
    (destination as pino.DestinationStream | undefined) ??
    pino.destination({
      dest: batching.dest ?? 1,
      sync: false,
      minLength: batching.bufferBytes ?? DEFAULT_BUFFER_BYTES,
      periodicFlush: batching.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS,
    });
  const log = pino(
    {
      level,
      base: undefined,
      redact: {
        paths: ["req.headers.authorization", "headers.authorization", "access_token", "*.access_token", "password", "*.password"],
        censor: "[redacted]",
      },
    },
    stream,
  );
  plainTwins.set(log, pino({ level, base: undefined }, stream));
  return log;
}

// Redaction copies every logged object to look for the paths above: lines whose
// fields are known to hold no secret (the access log) skip it.
const plainTwins = new WeakMap<Logger, Logger>();

/**
 * The logger for lines built only from known, secret-free fields: the same
 * output and level as `log`, without redaction. Any other logger (a child, a
 * test's) is returned as it is.
 */
export function accessLog(log: Logger): Logger {
  const twin = plainTwins.get(log);
  return twin && twin.level === log.level ? twin : log;
}

/** Writes the pending lines now (for lines someone waits for, such as "homeserver ready"). */
export function flushLog(log: Logger): void {
  log.flush();
}
