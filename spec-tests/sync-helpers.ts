import { expect } from "vitest";
import { registerUser, type J } from "./accounts-helpers.js";
import type { ConfigInput } from "../src/config/schema.js";
import { startTestServer, type TestServer } from "./harness.js";

export type { J };
export const enc = encodeURIComponent;

export interface TestUser {
  token: string;
  userId: string;
  deviceId: string;
}

export async function newUser(hs: TestServer, name: string): Promise<TestUser> {
  const r = await registerUser(hs, name);
  return { token: r.access_token as string, userId: r.user_id as string, deviceId: r.device_id as string };
}

export const api = <T = J>(hs: TestServer, method: string, path: string, token: string, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });

export async function createRoom(hs: TestServer, u: TestUser, body: J = {}): Promise<string> {
  const r = await api(hs, "POST", "/createRoom", u.token, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.room_id as string;
}

let txn = 0;
export async function send(hs: TestServer, u: TestUser, roomId: string, body: string): Promise<string> {
  const r = await api(hs, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/t${++txn}-${Date.now()}`, u.token, { msgtype: "m.text", body });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.event_id as string;
}

export async function join(hs: TestServer, u: TestUser, roomId: string): Promise<void> {
  const r = await api(hs, "POST", `/join/${enc(roomId)}`, u.token, {});
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

export async function invite(hs: TestServer, by: TestUser, roomId: string, userId: string): Promise<void> {
  const r = await api(hs, "POST", `/rooms/${enc(roomId)}/invite`, by.token, { user_id: userId });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

export interface SyncParams {
  since?: string;
  timeout?: number;
  filter?: J | string;
  full_state?: boolean;
  use_state_after?: boolean;
  set_presence?: string;
}

export async function sync(hs: TestServer, u: TestUser, p: SyncParams = {}): Promise<J> {
  const q = new URLSearchParams();
  if (p.since) q.set("since", p.since);
  if (p.timeout !== undefined) q.set("timeout", String(p.timeout));
  if (p.filter !== undefined) q.set("filter", typeof p.filter === "string" ? p.filter : JSON.stringify(p.filter));
  if (p.full_state) q.set("full_state", "true");
  if (p.use_state_after) q.set("use_state_after", "true");
  if (p.set_presence) q.set("set_presence", p.set_presence);
  const r = await hs.request<J>("GET", `/_matrix/client/v3/sync?${q}`, { token: u.token });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json;
}

/** Event ids of a joined room's timeline in a sync response. */
export function timelineIds(res: J, roomId: string): string[] {
  return ((res.rooms?.join?.[roomId]?.timeline?.events ?? []) as J[]).map((e) => e.event_id as string);
}

/** A server with open registration and cheap password hashing, as the conformance files use. */
export function startConformanceServer(overrides: ConfigInput = {}): Promise<TestServer> {
  return startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 }, ...overrides });
}

/** Sends `n` numbered messages, one after another. */
export async function sendMany(hs: TestServer, u: TestUser, roomId: string, n: number, prefix = "filler"): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 1; i <= n; i++) ids.push(await send(hs, u, roomId, `${prefix} ${i}`));
  return ids;
}

/** The member events of a joined room's `state` section: state_key -> membership. */
export function stateMembers(res: J, roomId: string): Record<string, string> {
  const events = (res.rooms?.join?.[roomId]?.state?.events ?? []) as J[];
  const members = events.filter((e) => e.type === "m.room.member");
  const out: Record<string, string> = {};
  for (const e of members) {
    expect(out[e.state_key], `member ${e.state_key} twice in state`).toBeUndefined();
    out[e.state_key] = e.content.membership;
  }
  return out;
}
