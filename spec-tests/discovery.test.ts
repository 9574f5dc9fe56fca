import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, httpRequest, type TestServer } from "./harness.js";

let hs: TestServer;
beforeAll(async () => {
  hs = await startTestServer({ well_known: { server: "matrix.example.org:443" } });
});
afterAll(() => hs?.close());

describe("discovery endpoints", () => {
  it("GET /_matrix/client/versions lists spec versions", async () => {
    const r = await hs.request<{ versions: unknown; unstable_features: unknown }>("GET", "/_matrix/client/versions");
    expect(r.status).toBe(200);
    expect(Array.isArray(r.json.versions)).toBe(true);
    for (const v of r.json.versions as string[]) expect(v).toMatch(/^(v\d+\.\d+|r\d+\.\d+\.\d+)$/);
    expect(typeof r.json.unstable_features).toBe("object");
  });

  it("/.well-known/matrix/client points at the client API", async () => {
    const r = await hs.request<{ "m.homeserver": { base_url: string } }>("GET", "/.well-known/matrix/client");
    expect(r.status).toBe(200);
    const base = r.json["m.homeserver"].base_url;
    const versions = await fetch(`${base.replace(/\/$/, "")}/_matrix/client/versions`);
    expect(versions.status).toBe(200);
  });

  it("/.well-known/matrix/server returns the configured delegation", async () => {
    const r = await hs.request("GET", "/.well-known/matrix/server");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ "m.server": "matrix.example.org:443" });
  });

  it("the health endpoint answers on both listeners", async () => {
    const c = await fetch(`${hs.url}/health`);
    expect(c.status).toBe(200);
    expect(await c.text()).toBe("OK");
    const f = await fetch(`${hs.federationUrl}/health`);
    expect(f.status).toBe(200);
  });

  it("GET /_matrix/federation/v1/version on the federation listener", async () => {
    const r = await httpRequest<{ server: { name: string; version: string } }>(hs.federationUrl!, "GET", "/_matrix/federation/v1/version");
    expect(r.status).toBe(200);
    expect(r.json.server.name).toMatch(/\S/);
    expect(r.json.server.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("client endpoints are not served on the federation listener and vice versa", async () => {
    const a = await httpRequest<{ errcode: string }>(hs.federationUrl!, "GET", "/_matrix/client/versions");
    expect(a.status).toBe(404);
    expect(a.json.errcode).toBe("M_UNRECOGNIZED");
    const b = await hs.request("GET", "/_matrix/federation/v1/version");
    expect(b.status).toBe(404);
    expect(b.json.errcode).toBe("M_UNRECOGNIZED");
  });

  it("unknown client endpoint -> 404 M_UNRECOGNIZED, wrong method -> 405 M_UNRECOGNIZED", async () => {
    const a = await hs.request("GET", "/_matrix/client/v3/definitely_not_an_endpoint");
    expect(a.status).toBe(404);
    expect(a.json.errcode).toBe("M_UNRECOGNIZED");
    const b = await hs.request("PUT", "/_matrix/client/versions", { body: {} });
    expect(b.status).toBe(405);
    expect(b.json.errcode).toBe("M_UNRECOGNIZED");
  });

  it("CORS preflight on a real path", async () => {
    const r = await fetch(`${hs.url}/_matrix/client/v3/login`, { method: "OPTIONS" });
    expect(r.status).toBe(200);
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    expect(r.headers.get("access-control-allow-methods")).toBe("GET, POST, PUT, DELETE, OPTIONS");
    expect(r.headers.get("access-control-allow-headers")).toBe("X-Requested-With, Content-Type, Authorization");
  });
});
