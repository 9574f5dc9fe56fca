import type { Context } from "koa";
import { CORS_HEADERS } from "../http/cors.js";

/**
 * An OAuth 2.0 error response (RFC 6749 section 5.2, RFC 7591 section 3.2.2,
 * RFC 7009 section 2.2.1, RFC 8628 section 3.5): `{"error", "error_description"}`,
 * not a Matrix error. The OAuth endpoints answer with these.
 */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    description: string,
  ) {
    super(description);
    this.name = "OAuthError";
  }

  toJSON(): Record<string, unknown> {
    return { error: this.error, error_description: this.message };
  }
}

export const invalidRequest = (d: string) => new OAuthError(400, "invalid_request", d);
export const invalidGrant = (d: string) => new OAuthError(400, "invalid_grant", d);
export const invalidClient = (d: string) => new OAuthError(401, "invalid_client", d);
export const invalidScope = (d: string) => new OAuthError(400, "invalid_scope", d);
export const unauthorizedClient = (d: string) => new OAuthError(400, "unauthorized_client", d);
export const invalidClientMetadata = (d: string) => new OAuthError(400, "invalid_client_metadata", d);
export const invalidRedirectUri = (d: string) => new OAuthError(400, "invalid_redirect_uri", d);

/** Writes an OAuth error as JSON; responses of the token endpoint are never cached (RFC 6749 section 5.1). */
export function sendOAuthError(ctx: Context, err: OAuthError): void {
  ctx.status = err.status;
  ctx.set({ ...CORS_HEADERS, "Cache-Control": "no-store", Pragma: "no-cache" });
  if (err.status === 401) ctx.set("WWW-Authenticate", 'Basic realm="oauth"');
  ctx.type = "application/json";
  ctx.body = err.toJSON();
}

/** Wraps an OAuth endpoint so that its OAuth errors (and Matrix errors such as M_TOO_LARGE) come out as OAuth JSON. */
export function oauthEndpoint<C extends Context>(fn: (ctx: C) => Promise<void>): (ctx: C) => Promise<void> {
  return async (ctx) => {
    try {
      await fn(ctx);
    } catch (err) {
      if (err instanceof OAuthError) return sendOAuthError(ctx, err);
      const status = (err as { status?: unknown }).status;
      const errcode = (err as { errcode?: unknown }).errcode;
      if (typeof status === "number" && typeof errcode === "string" && status < 500) {
        // A Matrix error from shared helpers (body too large, rate limited): the same status, OAuth's shape.
        const oauth = new OAuthError(status, "invalid_request", (err as Error).message);
        sendOAuthError(ctx, oauth);
        const headers = (err as { headers?: Record<string, string> }).headers;
        if (headers) ctx.set(headers);
        return;
      }
      throw err;
    }
  };
}
