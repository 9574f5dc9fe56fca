import { invalidClientMetadata, invalidRedirectUri } from "./errors.js";

/** Grant types the token endpoint supports (server metadata `grant_types_supported`). */
export const GRANT_AUTHORIZATION_CODE = "authorization_code";
export const GRANT_REFRESH_TOKEN = "refresh_token";
export const GRANT_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code";
export const SUPPORTED_GRANT_TYPES = [GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GRANT_DEVICE_CODE] as const;

/** What is stored for a client and echoed by the registration response. */
export interface ClientMetadata {
  client_uri: string;
  client_name?: string;
  logo_uri?: string;
  tos_uri?: string;
  policy_uri?: string;
  redirect_uris: string[];
  response_types: string[];
  grant_types: string[];
  token_endpoint_auth_method: "none";
  application_type: "web" | "native";
  id_token_signed_response_alg?: "RS256";
}

const MAX_URI_LENGTH = 2048;
const MAX_REDIRECT_URIS = 20;
const MAX_NAME_LENGTH = 256;
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/** The host is the client URI's host or one of its subdomains ("Client metadata": a common base). */
function sharesBase(url: URL, base: URL): boolean {
  const host = url.hostname.toLowerCase();
  const baseHost = base.hostname.toLowerCase();
  return host === baseHost || host.endsWith(`.${baseHost}`);
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw invalidClientMetadata(`'${key}' must be a string`);
  return v;
}

/** An https URL without user or password, on the client URI's host or a subdomain (when a base is given). */
function checkHttpsUri(key: string, value: string, base: URL | undefined): URL {
  if (value.length > MAX_URI_LENGTH) throw invalidClientMetadata(`'${key}' is too long`);
  const url = parseUrl(value);
  if (!url) throw invalidClientMetadata(`'${key}' is not a valid URL`);
  if (url.protocol !== "https:") throw invalidClientMetadata(`'${key}' must use the https scheme`);
  if (url.username !== "" || url.password !== "") throw invalidClientMetadata(`'${key}' must not contain a user or password`);
  if (base && !sharesBase(url, base)) throw invalidClientMetadata(`'${key}' must be on the host of client_uri or a subdomain of it`);
  return url;
}

/** Whether an http(s) URI's authority names a port, even the default one (`http://localhost:80/`). */
function hasExplicitPort(value: string): boolean {
  const authority = value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").split(/[/?#]/, 1)[0]!;
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1);
  return /:\d*$/.test(hostPort.startsWith("[") ? hostPort.slice(hostPort.indexOf("]") + 1) : hostPort);
}

/**
 * "Redirect URI validation": no fragment; web clients use https on the
 * client URI's host (or a subdomain); native clients may also use a private-use
 * scheme named after the client URI's host in reverse-DNS notation (with no
 * authority component) or plain http on a loopback host without a port.
 */
export function checkRedirectUri(value: string, applicationType: "web" | "native", clientUri: URL): void {
  if (value.length > MAX_URI_LENGTH) throw invalidRedirectUri("A redirect URI is too long");
  const url = parseUrl(value);
  if (!url) throw invalidRedirectUri(`'${value}' is not a valid URI`);
  if (value.includes("#")) throw invalidRedirectUri("Redirect URIs must not have a fragment");
  if (url.protocol === "https:") {
    // Web redirect URIs, and native clients' claimed https URIs (same rules).
    if (url.username !== "" || url.password !== "") throw invalidRedirectUri("Redirect URIs must not contain a user or password");
    if (!sharesBase(url, clientUri)) throw invalidRedirectUri("The redirect URI must be on the host of client_uri or a subdomain of it");
    return;
  }
  if (applicationType === "web") throw invalidRedirectUri("Web clients must use https redirect URIs");
  if (url.protocol === "http:") {
    if (!LOOPBACK_HOSTS.has(url.hostname)) throw invalidRedirectUri("http redirect URIs must use a loopback host (localhost, 127.0.0.1 or [::1])");
    if (url.port !== "" || hasExplicitPort(value)) throw invalidRedirectUri("Loopback redirect URIs must not have a port");
    if (url.username !== "" || url.password !== "") throw invalidRedirectUri("Redirect URIs must not contain a user or password");
    return;
  }
  // A private-use URI scheme (RFC 8252 section 7.1).
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  const reversed = clientUri.hostname.toLowerCase().split(".").reverse().join(".");
  if (scheme !== reversed && !scheme.startsWith(`${reversed}.`)) {
    throw invalidRedirectUri(`A private-use scheme must start with the client URI's host in reverse-DNS notation (${reversed})`);
  }
  if (!scheme.includes(".")) throw invalidRedirectUri("A private-use scheme must contain a period");
  const rest = value.slice(scheme.length + 1);
  if (rest.startsWith("//")) throw invalidRedirectUri("A private-use scheme redirect URI must not have an authority component");
}

/**
 * Validates a dynamic client registration request ("Client metadata", RFC
 * 7591 section 2) and returns what is registered. Values the server does not
 * understand are ignored; localised variants (`client_name#fr`) are not
 * registered. Errors are invalid_client_metadata or invalid_redirect_uri.
 */
export function validateClientMetadata(body: unknown): ClientMetadata {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidClientMetadata("The body must be a JSON object");
  const b = body as Record<string, unknown>;

  const clientUriText = optionalString(b, "client_uri");
  if (clientUriText === undefined) throw invalidClientMetadata("'client_uri' is required");
  const clientUri = checkHttpsUri("client_uri", clientUriText, undefined);

  const applicationType = optionalString(b, "application_type") ?? "web";
  if (applicationType !== "web" && applicationType !== "native") {
    throw invalidClientMetadata("'application_type' must be 'web' or 'native'");
  }

  const authMethod = optionalString(b, "token_endpoint_auth_method") ?? "none";
  if (authMethod !== "none") throw invalidClientMetadata("Only public clients are supported: token_endpoint_auth_method must be 'none'");

  const alg = optionalString(b, "id_token_signed_response_alg");
  if (alg !== undefined && alg !== "RS256") throw invalidClientMetadata("Only RS256 ID tokens are supported");

  const stringArray = (key: string): string[] | undefined => {
    const v = b[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw invalidClientMetadata(`'${key}' must be an array of strings`);
    return v as string[];
  };

  // RFC 7591 section 2: grant_types defaults to authorization_code; unknown values are ignored.
  const grantTypes = [...new Set((stringArray("grant_types") ?? [GRANT_AUTHORIZATION_CODE]).filter((g) => (SUPPORTED_GRANT_TYPES as readonly string[]).includes(g)))];
  if (grantTypes.length === 0) throw invalidClientMetadata("None of the requested grant types is supported");
  const responseTypes = [...new Set((stringArray("response_types") ?? ["code"]).filter((r) => r === "code"))];
  const usesCode = grantTypes.includes(GRANT_AUTHORIZATION_CODE);
  if (usesCode && responseTypes.length === 0) throw invalidClientMetadata("The authorization_code grant needs the 'code' response type");

  const redirectUris = stringArray("redirect_uris") ?? [];
  if (redirectUris.length > MAX_REDIRECT_URIS) throw invalidRedirectUri(`At most ${MAX_REDIRECT_URIS} redirect URIs are allowed`);
  if (usesCode && redirectUris.length === 0) throw invalidRedirectUri("At least one redirect URI is required for the authorization_code grant");
  for (const uri of redirectUris) checkRedirectUri(uri, applicationType, clientUri);

  const out: ClientMetadata = {
    client_uri: clientUriText,
    redirect_uris: [...new Set(redirectUris)],
    response_types: usesCode ? responseTypes : [],
    grant_types: grantTypes,
    token_endpoint_auth_method: "none",
    application_type: applicationType,
  };
  const name = optionalString(b, "client_name");
  if (name !== undefined) {
    if ([...name].length > MAX_NAME_LENGTH) throw invalidClientMetadata("'client_name' is too long");
    out.client_name = name;
  }
  for (const key of ["logo_uri", "tos_uri", "policy_uri"] as const) {
    const v = optionalString(b, key);
    if (v !== undefined) {
      checkHttpsUri(key, v, clientUri);
      out[key] = v;
    }
  }
  if (alg !== undefined) out.id_token_signed_response_alg = alg;
  return out;
}

/**
 * Whether `requested` matches a registered redirect URI: exactly, except that
 * for loopback http URIs any port is accepted ("Redirect URI validation").
 */
export function redirectUriMatches(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  const url = parseUrl(requested);
  if (!url || url.protocol !== "http:" || !LOOPBACK_HOSTS.has(url.hostname) || url.port === "") return false;
  const withoutPort = new URL(requested);
  withoutPort.port = "";
  const stripped = withoutPort.toString();
  // URL normalisation may add a trailing slash to a bare origin; compare both spellings.
  return registered.some((r) => r === stripped || (parseUrl(r)?.toString() ?? "") === stripped);
}
