import { invalidScope } from "./errors.js";

// Client-server API "Allocated scope tokens". The MSC2967 prefix is what
// clients sent before the API was in the spec (matrix-js-sdk still does).
const API_SCOPES = new Set(["urn:matrix:client:api:*", "urn:matrix:org.matrix.msc2967.client:api:*"]);
const DEVICE_PREFIXES = ["urn:matrix:client:device:", "urn:matrix:org.matrix.msc2967.client:device:"];
/** OpenID Connect: asks for an ID token besides the access token. */
const OPENID = "openid";

// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const MAX_DEVICE_ID_LENGTH = 255;

export interface ParsedScope {
  /** The scope tokens as requested, in order, without duplicates. */
  tokens: string[];
  deviceId: string;
  openid: boolean;
}

/**
 * Checks a requested scope: known tokens only, full API access, exactly one
 * device token ("Device ID allocation": there MUST be exactly one). Throws
 * invalid_scope (RFC 6749 section 4.1.2.1 / 5.2).
 */
export function parseScope(scope: string | undefined): ParsedScope {
  if (scope === undefined) throw invalidScope("A scope is required");
  const tokens = [...new Set(scope.split(" ").filter((t) => t !== ""))];
  if (tokens.length === 0) throw invalidScope("A scope is required");
  let deviceId: string | undefined;
  let api = false;
  let openid = false;
  for (const token of tokens) {
    if (!SCOPE_TOKEN.test(token)) throw invalidScope("A scope token has characters RFC 6749 does not allow");
    if (API_SCOPES.has(token)) {
      api = true;
      continue;
    }
    if (token === OPENID) {
      openid = true;
      continue;
    }
    const prefix = DEVICE_PREFIXES.find((p) => token.startsWith(p));
    if (prefix) {
      const id = token.slice(prefix.length);
      if (id === "" || id.length > MAX_DEVICE_ID_LENGTH) throw invalidScope("The device id must be 1 to 255 characters");
      if (deviceId !== undefined && deviceId !== id) throw invalidScope("Exactly one device scope token is allowed");
      deviceId = id;
      continue;
    }
    throw invalidScope(`Unsupported scope token '${token}'`);
  }
  if (deviceId === undefined) throw invalidScope("The scope must allocate a device (urn:matrix:client:device:<device_id>)");
  if (!api) throw invalidScope("The scope must include urn:matrix:client:api:*");
  return { tokens, deviceId, openid };
}
