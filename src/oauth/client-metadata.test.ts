import { describe, expect, it } from "vitest";
import { checkRedirectUri, redirectUriMatches, validateClientMetadata } from "./client-metadata.js";
import { OAuthError } from "./errors.js";
import { parseScope } from "./scope.js";
import { s256Challenge, verifyS256 } from "./pkce.js";

const base = new URL("https://example.com/");
const errorOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    if (e instanceof OAuthError) return e.error;
    throw e;
  }
  return undefined;
};

describe("redirect URI validation (spec examples)", () => {
  it.each(["https://example.com/callback", "https://app.example.com/callback", "https://example.com:5173/?query=value"])("web accepts %s", (u) => {
    expect(errorOf(() => checkRedirectUri(u, "web", base))).toBeUndefined();
  });
  it.each(["https://example.com/callback#fragment", "http://example.com/callback", "http://localhost/", "https://app.com/callback", "https://user:pw@example.com/"])(
    "web refuses %s",
    (u) => {
      expect(errorOf(() => checkRedirectUri(u, "web", base))).toBe("invalid_redirect_uri");
    },
  );
  it.each(["com.example.app:/callback", "com.example:/", "com.example:callback", "http://localhost/callback", "http://127.0.0.1/callback", "http://[::1]/callback", "https://app.example.com/cb"])(
    "native accepts %s",
    (u) => {
      expect(errorOf(() => checkRedirectUri(u, "native", base))).toBeUndefined();
    },
  );
  it.each(["example:/callback", "com.example.app://callback", "https://localhost/callback", "http://localhost:1234/callback", "http://localhost:80/cb", "http://[::1]:8080/", "org.example:/cb"])(
    "native refuses %s",
    (u) => {
      expect(errorOf(() => checkRedirectUri(u, "native", base))).toBe("invalid_redirect_uri");
    },
  );
});

describe("validateClientMetadata", () => {
  const good = {
    client_name: "My App",
    "client_name#fr": "Mon application",
    client_uri: "https://example.com/",
    logo_uri: "https://example.com/logo.png",
    redirect_uris: ["https://app.example.com/callback"],
    token_endpoint_auth_method: "none",
    response_types: ["code", "id_token"],
    grant_types: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"],
    application_type: "web",
  };

  it("registers known values and drops unknown ones and localised variants", () => {
    const m = validateClientMetadata(good);
    expect(m).toEqual({
      client_name: "My App",
      client_uri: "https://example.com/",
      logo_uri: "https://example.com/logo.png",
      redirect_uris: ["https://app.example.com/callback"],
      token_endpoint_auth_method: "none",
      response_types: ["code"],
      grant_types: ["authorization_code", "refresh_token"],
      application_type: "web",
    });
  });

  it("requires an https client_uri without credentials", () => {
    expect(errorOf(() => validateClientMetadata({ ...good, client_uri: undefined }))).toBe("invalid_client_metadata");
    expect(errorOf(() => validateClientMetadata({ ...good, client_uri: "http://example.com/" }))).toBe("invalid_client_metadata");
    expect(errorOf(() => validateClientMetadata({ ...good, client_uri: "https://u:p@example.com/" }))).toBe("invalid_client_metadata");
    expect(errorOf(() => validateClientMetadata({ ...good, client_uri: "not a url" }))).toBe("invalid_client_metadata");
  });

  it("refuses other URIs off the client_uri's host, confidential clients and unknown application types", () => {
    expect(errorOf(() => validateClientMetadata({ ...good, logo_uri: "https://evil.com/logo.png" }))).toBe("invalid_client_metadata");
    expect(errorOf(() => validateClientMetadata({ ...good, tos_uri: "http://example.com/tos" }))).toBe("invalid_client_metadata");
    expect(errorOf(() => validateClientMetadata({ ...good, token_endpoint_auth_method: "client_secret_basic" }))).toBe("invalid_client_metadata");
    expect(errorOf(() => validateClientMetadata({ ...good, application_type: "desktop" }))).toBe("invalid_client_metadata");
    expect(errorOf(() => validateClientMetadata([]))).toBe("invalid_client_metadata");
  });

  it("needs redirect URIs for the code grant but not for the device grant alone", () => {
    expect(errorOf(() => validateClientMetadata({ ...good, redirect_uris: [] }))).toBe("invalid_redirect_uri");
    expect(errorOf(() => validateClientMetadata({ ...good, redirect_uris: ["https://evil.com/cb"] }))).toBe("invalid_redirect_uri");
    const device = validateClientMetadata({ client_uri: "https://example.com/", grant_types: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"] });
    expect(device.grant_types).toEqual(["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]);
    expect(device.redirect_uris).toEqual([]);
  });
});

describe("redirectUriMatches", () => {
  it("matches exactly, and loopback URIs on any port", () => {
    expect(redirectUriMatches(["https://app.example.com/cb"], "https://app.example.com/cb")).toBe(true);
    expect(redirectUriMatches(["https://app.example.com/cb"], "https://app.example.com/cb/")).toBe(false);
    expect(redirectUriMatches(["https://app.example.com/cb"], "https://app.example.com/cb?x=1")).toBe(false);
    expect(redirectUriMatches(["http://127.0.0.1/cb"], "http://127.0.0.1:43123/cb")).toBe(true);
    expect(redirectUriMatches(["http://127.0.0.1/cb"], "http://127.0.0.1:43123/other")).toBe(false);
    expect(redirectUriMatches(["http://localhost/"], "http://localhost:5000/")).toBe(true);
    expect(redirectUriMatches(["https://app.example.com/"], "https://app.example.com:444/")).toBe(false);
  });
});

describe("scope", () => {
  it("parses the stable and MSC2967 forms", () => {
    expect(parseScope("urn:matrix:client:api:* urn:matrix:client:device:ABCDEFGHIJ")).toEqual({
      tokens: ["urn:matrix:client:api:*", "urn:matrix:client:device:ABCDEFGHIJ"],
      deviceId: "ABCDEFGHIJ",
      openid: false,
    });
    const p = parseScope("openid urn:matrix:org.matrix.msc2967.client:api:* urn:matrix:org.matrix.msc2967.client:device:xyz");
    expect(p.deviceId).toBe("xyz");
    expect(p.openid).toBe(true);
  });
  it("refuses missing, duplicate and unknown tokens", () => {
    expect(errorOf(() => parseScope("urn:matrix:client:api:*"))).toBe("invalid_scope");
    expect(errorOf(() => parseScope("urn:matrix:client:device:A urn:matrix:client:device:B urn:matrix:client:api:*"))).toBe("invalid_scope");
    expect(errorOf(() => parseScope("urn:matrix:client:device:A"))).toBe("invalid_scope");
    expect(errorOf(() => parseScope("urn:matrix:client:api:* urn:matrix:client:device:A urn:synapse:admin:*"))).toBe("invalid_scope");
    expect(errorOf(() => parseScope(undefined))).toBe("invalid_scope");
  });
});

describe("PKCE S256", () => {
  it("verifies the RFC 7636 appendix B example", () => {
    const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    expect(s256Challenge(verifier)).toBe("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    expect(verifyS256(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")).toBe(true);
    expect(verifyS256(verifier.replace("d", "e"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")).toBe(false);
    expect(verifyS256("short", s256Challenge("short"))).toBe(false);
  });
});
