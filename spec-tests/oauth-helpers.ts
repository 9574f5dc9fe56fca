import { createHash, randomBytes } from "node:crypto";
import { expect } from "vitest";
import type { TestServer } from "./harness.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type J = Record<string, any>;

export const REDIRECT_URI = "https://app.example.com/callback";
export const CLIENT_URI = "https://example.com/";

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(48).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

export async function registerClient(hs: TestServer, extra: J = {}): Promise<J> {
  const r = await hs.request<J>("POST", "/oauth2/register", {
    body: {
      client_name: "Test client",
      client_uri: CLIENT_URI,
      redirect_uris: [REDIRECT_URI],
      grant_types: ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      application_type: "web",
      ...extra,
    },
  });
  expect(r.status, r.text).toBe(201);
  return r.json;
}

/** POSTs an application/x-www-form-urlencoded body. */
export async function postForm(hs: TestServer, path: string, form: Record<string, string>): Promise<{ status: number; json: J; headers: Headers }> {
  const res = await fetch(hs.url + path, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as J) : {}, headers: res.headers };
}

/** A browser without JavaScript: cookies, forms, no automatic redirects. */
export class FormBrowser {
  private readonly cookies = new Map<string, string>();

  constructor(private readonly base: string) {}

  async go(method: "GET" | "POST", url: string, form?: Record<string, string>): Promise<{ status: number; location: string | null; text: string }> {
    const headers: Record<string, string> = {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    let body: string | undefined;
    if (form) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      headers.origin = new URL(this.base).origin;
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(new URL(url, this.base), { method, headers, body, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (attrs.some((a) => a.trim().toLowerCase() === "max-age=0")) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: res.status, location: res.headers.get("location"), text: await res.text() };
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }
}

/** The value of a hidden input of a page. */
export function hidden(page: string, name: string): string {
  const m = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`).exec(page);
  if (!m) throw new Error(`no hidden field ${name} in page`);
  return m[1]!.replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&#96;/g, "`");
}

export function authorizeUrl(clientId: string, challenge: string, o: { deviceId?: string; state?: string; mode?: string; redirectUri?: string; scope?: string; nonce?: string } = {}): string {
  const q = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: o.redirectUri ?? REDIRECT_URI,
    scope: o.scope ?? `urn:matrix:client:api:* urn:matrix:client:device:${o.deviceId ?? "OAUTHDEV01"}`,
    state: o.state ?? "state123",
    response_mode: o.mode ?? "fragment",
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  if (o.nonce) q.set("nonce", o.nonce);
  return `/oauth2/auth?${q.toString()}`;
}

/** Signs in on the login page if needed and allows the consent page; returns the callback URL. */
export async function authorizeInBrowser(b: FormBrowser, url: string, username: string, password: string): Promise<URL> {
  let r = await b.go("GET", url);
  if (r.status === 303 && r.location!.startsWith("/oauth2/login")) {
    const login = await b.go("GET", r.location!);
    expect(login.status).toBe(200);
    const post = await b.go("POST", "/oauth2/login", { csrf: hidden(login.text, "csrf"), then: hidden(login.text, "then"), username, password });
    expect(post.status, post.text).toBe(303);
    r = await b.go("GET", post.location!);
  }
  expect(r.status, r.text).toBe(200);
  const allow = await b.go("POST", "/oauth2/consent", { csrf: hidden(r.text, "csrf"), q: hidden(r.text, "q"), action: "allow" });
  expect(allow.status).toBe(303);
  return new URL(allow.location!);
}

/** The callback's parameters, from the fragment or the query. */
export function callbackParams(u: URL): URLSearchParams {
  return u.hash ? new URLSearchParams(u.hash.slice(1)) : u.searchParams;
}
