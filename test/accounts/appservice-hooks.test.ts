import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.js";
import { createHttpApp } from "../../src/http/app.js";
import { createLogger } from "../../src/logging.js";
import { createAccountsArea } from "../../src/users/area.js";
import { httpRequest } from "../../spec-tests/harness.js";
import { openTestSql, type TestSql } from "../support/databases.js";

// The seams the application-service work plugs into: an as_token resolver
// (with user_id masquerading) and exclusive user namespaces.
type J = Record<string, any>;
let db: TestSql;
let server: http.Server;
let base: string;

beforeAll(async () => {
  db = await openTestSql();
  const log = createLogger("silent");
  const config = parseConfig({ server_name: "localhost", password_policy: { scrypt_cost: 1024 }, rate_limits: { enabled: false } });
  const area = createAccountsArea({
    config,
    sql: db.sql,
    log,
    appServices: {
      resolve: async (token, ctx) => {
        if (token !== "as_token") return undefined;
        const userId = typeof ctx.query.user_id === "string" ? ctx.query.user_id : "@irc_bot:localhost";
        return { userId, deviceId: null, isGuest: false, appServiceId: "irc" };
      },
    },
    exclusive: { isExclusiveUser: (id) => id.startsWith("@irc_"), isUserInNamespace: (as, id) => as === "irc" && id.startsWith("@irc_") },
  });
  server = http.createServer(createHttpApp({ name: "client", log, routers: area.clientRouters }).callback());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await db?.dispose();
});

const req = (method: string, path: string, opts: { body?: unknown; token?: string } = {}) => httpRequest<J>(base, method, path, opts);

describe("application-service hooks", () => {
  it("registers users in the namespace with the as_token even with registration closed", async () => {
    const closed = await req("POST", "/_matrix/client/v3/register", { body: { username: "someone", password: "x" } });
    expect(closed.status).toBe(403);
    const r = await req("POST", "/_matrix/client/v3/register", { token: "as_token", body: { type: "m.login.application_service", username: "irc_alice" } });
    expect(r.status).toBe(200);
    expect(r.json.user_id).toBe("@irc_alice:localhost");
    const outside = await req("POST", "/_matrix/client/v3/register", { token: "as_token", body: { type: "m.login.application_service", username: "mallory" } });
    expect(outside.status).toBe(400);
    expect(outside.json.errcode).toBe("M_EXCLUSIVE");
    const excl = await req("GET", "/_matrix/client/v3/register/available?username=irc_bob");
    expect(excl.status).toBe(400);
    expect(excl.json.errcode).toBe("M_EXCLUSIVE");
    const notAs = await req("POST", "/_matrix/client/v3/register", { token: r.json.access_token, body: { type: "m.login.application_service", username: "irc_carl" } });
    expect(notAs.status).toBe(401);
    expect(notAs.json.errcode).toBe("M_UNKNOWN_TOKEN");
  });

  it("logs in as a namespaced user with m.login.application_service", async () => {
    const r = await req("POST", "/_matrix/client/v3/login", {
      token: "as_token",
      body: { type: "m.login.application_service", identifier: { type: "m.id.user", user: "irc_alice" } },
    });
    expect(r.status).toBe(200);
    expect(r.json.user_id).toBe("@irc_alice:localhost");
  });

  it("creates devices with PUT (201, then 200) and deletes them without UIA (spec v1.17)", async () => {
    const as = "?user_id=%40irc_alice%3Alocalhost";
    const created = await req("PUT", `/_matrix/client/v3/devices/BRIDGEDEV${as}`, { token: "as_token", body: { display_name: "bridge" } });
    expect(created.status).toBe(201);
    const updated = await req("PUT", `/_matrix/client/v3/devices/BRIDGEDEV${as}`, { token: "as_token", body: { display_name: "bridge 2" } });
    expect(updated.status).toBe(200);
    const list = await req("GET", `/_matrix/client/v3/devices${as}`, { token: "as_token" });
    expect(list.json.devices.find((d: J) => d.device_id === "BRIDGEDEV")?.display_name).toBe("bridge 2");
    const del = await req("DELETE", `/_matrix/client/v3/devices/BRIDGEDEV${as}`, { token: "as_token", body: {} });
    expect(del.status).toBe(200);
    const after = await req("GET", `/_matrix/client/v3/devices${as}`, { token: "as_token" });
    expect(after.json.devices.map((d: J) => d.device_id)).not.toContain("BRIDGEDEV");
    const whoami = await req("GET", `/_matrix/client/v3/account/whoami${as}`, { token: "as_token" });
    expect(whoami.json).toEqual({ user_id: "@irc_alice:localhost", is_guest: false });
  });
});
