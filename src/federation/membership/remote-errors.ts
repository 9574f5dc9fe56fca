import { MatrixError } from "../../http/errors.js";
import { FederationError } from "../client.js";

/**
 * A failed request to another server as the client sees it: the remote
 * server's refusal (4xx) passes through with its errcode ("The error should
 * be passed through to clients"), except M_MISSING_PARAM / M_INVALID_PARAM,
 * which "SHOULD fail with a 5xx error"; an unreachable server is 502.
 */
export function remoteFailure(err: unknown, what: string): MatrixError {
  if (err instanceof MatrixError) return err;
  if (err instanceof FederationError) {
    const code = err.errcode;
    if (err.status >= 400 && err.status < 500 && code && code !== "M_MISSING_PARAM" && code !== "M_INVALID_PARAM" && code !== "M_UNRECOGNIZED") {
      return new MatrixError(err.status, code, `${what}: ${err.destination} refused: ${err.message.slice(0, 200)}`);
    }
    return new MatrixError(502, "M_UNKNOWN", `${what}: ${err.destination} answered ${err.status}`);
  }
  return new MatrixError(502, "M_UNKNOWN", `${what}: ${(err as Error).message?.slice(0, 200) ?? "request failed"}`);
}
