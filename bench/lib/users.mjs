// A small Matrix client for the bench driver: JSON calls over an undici Pool,
// and user registration through the client API (m.login.dummy).
import { Pool } from "undici";

let counter = 0;

/** A JSON client on its own keep-alive pool; `call` answers {status, json}. */
export function jsonClient(baseUrl, connections = 8) {
  // Idle sockets are dropped after a second, well before the server's keep-alive timeout
  // (5 s), so a request is not sent on a socket the busy server is closing at that moment.
  const pool = new Pool(baseUrl, {
    connections,
    pipelining: 1,
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
    keepAliveTimeout: 1_000,
    keepAliveMaxTimeout: 1_000,
  });
  async function call(method, path, { token, body } = {}) {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await pool.request({ method, path, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.body.text();
    return { status: res.statusCode, json: text ? JSON.parse(text) : undefined };
  }
  return { pool, call, close: () => pool.close() };
}

/** Throws unless the call answered 200; returns the JSON body. */
export async function ok(promise, what) {
  const r = await promise;
  if (r.status !== 200) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

/**
 * Registers a user with user-interactive auth: the first POST answers 401 with
 * a session, the second completes m.login.dummy in it.
 */
export async function registerUser(call, name) {
  const username = `${name}_${process.pid}_${++counter}`;
  const body = { username, password: "bench password 1" };
  const first = await call("POST", "/_matrix/client/v3/register", { body });
  if (first.status !== 401 || !first.json?.session) throw new Error(`register: expected 401 with a session, got ${first.status}`);
  const json = await ok(call("POST", "/_matrix/client/v3/register", { body: { ...body, auth: { type: "m.login.dummy", session: first.json.session } } }), "register");
  return { token: json.access_token, userId: json.user_id, deviceId: json.device_id };
}

/** Registers n users, `concurrency` at a time. */
export async function registerUsers(call, name, n, concurrency = 4) {
  const users = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) {
        next++;
        users.push(await registerUser(call, name));
      }
    }),
  );
  return users;
}

/** Runs `fn(i)` for i in [0, n) with at most `concurrency` in flight. */
export async function pooled(n, concurrency, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}
