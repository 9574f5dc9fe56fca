/**
 * The spec's "Standard error response": every failure a client or server sees is
 * `{"errcode": "M_...", "error": "..."}` with the status code the spec gives.
 */
export type ErrCode =
  | "M_BAD_JSON"
  | "M_BAD_STATE"
  | "M_EXCLUSIVE"
  | "M_FORBIDDEN"
  | "M_GUEST_ACCESS_FORBIDDEN"
  | "M_INCOMPATIBLE_ROOM_VERSION"
  | "M_INVALID_PARAM"
  | "M_INVALID_ROOM_STATE"
  | "M_INVALID_USERNAME"
  | "M_LIMIT_EXCEEDED"
  | "M_MISSING_PARAM"
  | "M_MISSING_TOKEN"
  | "M_NOT_FOUND"
  | "M_NOT_JSON"
  | "M_RESOURCE_LIMIT_EXCEEDED"
  | "M_ROOM_IN_USE"
  | "M_TOO_LARGE"
  | "M_UNAUTHORIZED"
  | "M_UNKNOWN"
  | "M_UNKNOWN_TOKEN"
  | "M_UNRECOGNIZED"
  | "M_UNSUPPORTED_ROOM_VERSION"
  | "M_USER_DEACTIVATED"
  | "M_USER_IN_USE"
  | "M_WEAK_PASSWORD"
  | (string & {});

export class MatrixError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: ErrCode,
    message: string,
    /** Extra top-level fields of the error body, e.g. `retry_after_ms`, `soft_logout`. */
    readonly extra: Record<string, unknown> = {},
    /** Extra response headers, e.g. `Retry-After`. */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "MatrixError";
  }

  toJSON(): Record<string, unknown> {
    return { ...this.extra, errcode: this.errcode, error: this.message };
  }
}

export const badJson = (message: string) => new MatrixError(400, "M_BAD_JSON", message);
export const notJson = (message = "Request body is not valid JSON") => new MatrixError(400, "M_NOT_JSON", message);
export const invalidParam = (message: string) => new MatrixError(400, "M_INVALID_PARAM", message);
export const missingParam = (message: string) => new MatrixError(400, "M_MISSING_PARAM", message);
export const notFound = (message = "Not found") => new MatrixError(404, "M_NOT_FOUND", message);
export const forbidden = (message: string) => new MatrixError(403, "M_FORBIDDEN", message);
export const tooLarge = (message = "Request body too large") => new MatrixError(413, "M_TOO_LARGE", message);
export const unrecognized = (status: 404 | 405, message: string) => new MatrixError(status, "M_UNRECOGNIZED", message);
