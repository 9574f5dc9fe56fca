/**
 * The same endpoint under `/_matrix/client/v3` and the older `r0` prefix,
 * which some clients and test suites still use.
 */
export function clientPaths(suffix: string): string[] {
  return [`/_matrix/client/v3${suffix}`, `/_matrix/client/r0${suffix}`];
}

/** Endpoints the spec defines under `/_matrix/client/v1`. */
export function clientV1(suffix: string): string {
  return `/_matrix/client/v1${suffix}`;
}
