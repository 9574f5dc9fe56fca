import type { Context } from "koa";
import { Params, readForm } from "./form.js";
import { secretsEqual, type BrowserSessions, type BrowserUser } from "./browser-sessions.js";
import { errorPage } from "./pages.js";

export const SESSION_COOKIE = "hs_session";
export const CSRF_COOKIE = "hs_csrf";

/** Security headers of every page: no framing, no inline script or style, no referrer, no caching. */
const PAGE_HEADERS: Record<string, string> = {
  "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

export function readCookie(ctx: Context, name: string): string | undefined {
  const header = ctx.get("cookie");
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * Sets a cookie by header (Koa's helper refuses Secure cookies behind a TLS
 * proxy). HttpOnly and SameSite=Lax always; Secure when the public URL is https.
 */
export function setCookie(ctx: Context, name: string, value: string, opts: { maxAgeS?: number; secure: boolean }): void {
  const parts = [`${name}=${encodeURIComponent(value)}`, "Path=/", "HttpOnly", "SameSite=Lax"];
  if (opts.secure) parts.push("Secure");
  if (opts.maxAgeS !== undefined) parts.push(`Max-Age=${opts.maxAgeS}`);
  ctx.append("Set-Cookie", parts.join("; "));
}

export function sendPage(ctx: Context, status: number, body: string): void {
  ctx.status = status;
  ctx.set(PAGE_HEADERS);
  ctx.type = "text/html; charset=utf-8";
  ctx.body = body;
}

/** A 303 to a page of this server or a client's redirect URI, after a form or the authorisation endpoint. */
export function redirectTo(ctx: Context, location: string): void {
  ctx.status = 303;
  ctx.set("Cache-Control", "no-store");
  ctx.set("Location", location);
  ctx.body = "";
}

/**
 * A local path to go on to after signing in: only this server's own pages,
 * never another site (no open redirects).
 */
export function safeThen(then: string | undefined, fallback = "/account/"): string {
  if (!then || then.length > 8192) return fallback;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters and spaces are exactly what is refused
  if (!/^\/(oauth2\/|account(\/|\?|$))/.test(then) || then.includes("\\") || /[\x00-\x20\x7f]/.test(then)) return fallback;
  return then;
}

export interface WebContextDeps {
  browser: BrowserSessions;
  serverName: string;
  /** The public base URL (Secure cookies when https, and the allowed Origin). */
  baseUrl: () => string;
}

/** Per-request helpers of the web pages: the signed-in user, the CSRF token, checked forms. */
export class WebContext {
  constructor(private readonly deps: WebContextDeps) {}

  get serverName(): string {
    return this.deps.serverName;
  }

  private secure(): boolean {
    return this.deps.baseUrl().startsWith("https:");
  }

  async user(ctx: Context): Promise<BrowserUser | undefined> {
    return this.deps.browser.current(readCookie(ctx, SESSION_COOKIE));
  }

  /** The CSRF token of this browser (double-submit cookie), set when missing. */
  csrf(ctx: Context): string {
    const existing = readCookie(ctx, CSRF_COOKIE);
    if (existing && /^[A-Za-z0-9_-]{32}$/.test(existing)) return existing;
    const token = this.deps.browser.newCsrfToken();
    setCookie(ctx, CSRF_COOKIE, token, { secure: this.secure() });
    // Later reads in this request see the new token.
    ctx.request.headers.cookie = `${ctx.get("cookie") ? `${ctx.get("cookie")}; ` : ""}${CSRF_COOKIE}=${token}`;
    return token;
  }

  /**
   * Reads a form POST and checks it came from our own page: the CSRF field
   * must equal the CSRF cookie (constant-time), and a cross-site Origin is refused.
   * Returns undefined (after answering 403) when the check fails.
   */
  async form(ctx: Context): Promise<Params | undefined> {
    const origin = ctx.get("origin");
    if (origin && origin !== "null") {
      const allowed = new Set([new URL(this.deps.baseUrl()).origin, `${ctx.protocol}://${ctx.host}`]);
      if (!allowed.has(origin)) {
        sendPage(ctx, 403, errorPage(this.serverName, "This form was sent from another site and was refused."));
        return undefined;
      }
    }
    let p: Params;
    try {
      p = await readForm(ctx);
    } catch {
      sendPage(ctx, 400, errorPage(this.serverName, "The form could not be read. Go back and try again."));
      return undefined;
    }
    if (!secretsEqual(p.get("csrf"), readCookie(ctx, CSRF_COOKIE))) {
      sendPage(ctx, 403, errorPage(this.serverName, "This form has expired. Go back, reload the page and try again."));
      return undefined;
    }
    return p;
  }

  async signIn(ctx: Context, userId: string): Promise<void> {
    const cookie = await this.deps.browser.start(userId);
    setCookie(ctx, SESSION_COOKIE, cookie, { secure: this.secure(), maxAgeS: Math.floor(this.deps.browser.lifetimeMs / 1000) });
  }

  async signOut(ctx: Context): Promise<void> {
    await this.deps.browser.end(readCookie(ctx, SESSION_COOKIE));
    setCookie(ctx, SESSION_COOKIE, "", { secure: this.secure(), maxAgeS: 0 });
  }

  clearSessionCookie(ctx: Context): void {
    setCookie(ctx, SESSION_COOKIE, "", { secure: this.secure(), maxAgeS: 0 });
  }
}

/** Where to sign in first, coming back to `then` afterwards. */
export function loginUrl(then: string): string {
  return `/oauth2/login?then=${encodeURIComponent(then)}`;
}
