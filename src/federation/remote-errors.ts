import { MatrixError } from "../http/errors.js";
import { FederationError } from "./client.js";
import { isTimeout } from "./transport.js";

/**
 * What a client sees when a query to another server fails, as deployed
 * servers answer: the remote's 404 is "not found" here too, a timeout is 504,
 * anything else (unreachable, refused, a 5xx, a malformed answer) is 502.
 */
export function remoteFailure(err: unknown, what: string): MatrixError {
  if (err instanceof MatrixError) return err;
  if (err instanceof FederationError && err.status === 404) return new MatrixError(404, "M_NOT_FOUND", `${what} not found`);
  if (isTimeout(err)) return new MatrixError(504, "M_UNKNOWN", `Timed out asking the remote server for ${what}`);
  return new MatrixError(502, "M_UNKNOWN", `Failed to get ${what} from the remote server`);
}
