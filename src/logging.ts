import { pino, type Logger } from "pino";

export type { Logger };

/**
 * Structured JSON logs on stdout, written asynchronously: a request never
 * waits for the terminal or pipe (pino flushes what is pending at exit). Authorization headers and access tokens are
 * redacted should a caller ever log a request object; the HTTP layer logs only
 * the path, never the query string, where a deprecated `access_token` may sit.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: {
        paths: ["req.headers.authorization", "headers.authorization", "access_token", "*.access_token", "password", "*.password"],
        censor: "[redacted]",
      },
    },
    (destination as pino.DestinationStream | undefined) ?? pino.destination({ dest: 1, sync: false }),
  );
}
