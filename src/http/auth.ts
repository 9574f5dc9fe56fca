import type { Context } from "koa";

/**
 * Who is making a client-server request. Produced by the accounts service from
 * the access token (Authorization: Bearer, or the deprecated `access_token`
 * query parameter); route files only ever see this.
 */
export interface Requester {
  userId: string;
  /** Null for application services acting without a device. */
  deviceId: string | null;
  isGuest: boolean;
  /** Set when the token belongs to an application service. */
  appServiceId?: string;
}

export interface AuthOptions {
  /** Guests are refused unless the endpoint allows them (M_GUEST_ACCESS_FORBIDDEN). */
  allowGuests?: boolean;
}

/** Resolves the requester of a request, or throws a MatrixError (401 M_MISSING_TOKEN / M_UNKNOWN_TOKEN). */
export interface Authenticator {
  authenticate(ctx: Context, opts?: AuthOptions): Promise<Requester>;
}
