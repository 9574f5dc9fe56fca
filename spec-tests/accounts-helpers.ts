import { createHmac } from "node:crypto";
import { expect } from "vitest";
import type { TestServer } from "./harness.js";

// Loose JSON for assertions on responses; `any` is allowed outside src/core.
export type J = Record<string, any>;

/** Registers through the m.login.dummy flow; returns the login response. */
export async function registerUser(hs: TestServer, username: string, password = "correct horse", extra: J = {}): Promise<J> {
  const first = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username, password, ...extra } });
  expect(first.status).toBe(401);
  const r = await hs.request<J>("POST", "/_matrix/client/v3/register", {
    body: { username, password, ...extra, auth: { type: "m.login.dummy", session: first.json.session } },
  });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json;
}

export async function login(hs: TestServer, user: string, password: string, extra: J = {}): Promise<J> {
  const r = await hs.request<J>("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", identifier: { type: "m.id.user", user }, password, ...extra } });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json;
}

/** Synapse-style shared-secret registration (HMAC-SHA1 over nonce, user, password, admin flag). */
export async function sharedSecretRegister(hs: TestServer, secret: string, username: string, password: string, admin = false): Promise<J> {
  const n = await hs.request<J>("GET", "/_synapse/admin/v1/register");
  expect(n.status).toBe(200);
  const mac = createHmac("sha1", secret)
    .update(`${n.json.nonce}\x00${username}\x00${password}\x00${admin ? "admin" : "notadmin"}`)
    .digest("hex");
  const r = await hs.request<J>("POST", "/_synapse/admin/v1/register", { body: { nonce: n.json.nonce, username, password, admin, mac } });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json;
}

/** A registered user's login: access token, user id and device id. */
export type Session = { token: string; userId: string; deviceId: string };

/** Registers `username` (m.login.dummy, the default password) and returns its session. */
export async function registerSession(hs: TestServer, username: string): Promise<Session> {
  const r = await registerUser(hs, username);
  return { token: r.access_token as string, userId: r.user_id as string, deviceId: r.device_id as string };
}
