import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseXMatrixHeader } from "../federation/x-matrix.js";
import { IdentityServers } from "../identity/identity-servers.js";
import { IpPolicy } from "../media/ip-ranges.js";
import type { ThreepidRepo } from "../storage/threepid-repo.js";
import { systemRandom } from "./deps.js";
import { ThreepidService } from "./threepids.js";

type Binding = { medium: string; address: string; id_server: string };

function service(fetchImpl: typeof fetch, bindings: Binding[], trusted = ["id.example.org"]) {
  const repo = {
    addBinding: async (_u: string, medium: string, address: string, id_server: string) => void bindings.push({ medium, address, id_server }),
    bindings: async (_u: string, medium?: string, address?: string) =>
      bindings.filter((b) => (medium === undefined || b.medium === medium) && (address === undefined || b.address === address)),
    removeBinding: async (_u: string, medium: string, address: string, idServer: string) => {
      const i = bindings.findIndex((b) => b.medium === medium && b.address === address && b.id_server === idServer);
      if (i >= 0) bindings.splice(i, 1);
    },
    list: async () => [],
  } as unknown as ThreepidRepo;
  const identity = new IdentityServers({
    serverName: "hs",
    signingKey: { keyId: "ed25519:k1", seed: randomBytes(32) },
    trusted,
    policy: new IpPolicy({ allow: [], deny: [] }),
    timeoutMs: 1000,
    fetch: fetchImpl,
  });
  return new ThreepidService({
    repo,
    mailer: undefined,
    clock: { now: () => 0 },
    random: systemRandom,
    serverName: "hs",
    clientBaseUrl: () => "http://hs",
    tokenLifetimeMs: 1000,
    identity,
  });
}

describe("identity server binding (v2 API)", () => {
  it("posts sid, client_secret and mxid with the identity access token and records the binding", async () => {
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const bindings: Binding[] = [];
    const fake = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({ medium: "email", address: "a@b.org", mxid: "@u:hs", signatures: {} }), { status: 200 });
    }) as unknown as typeof fetch;
    await service(fake, bindings).bind("@u:hs", { client_secret: "cs", sid: "s1", id_server: "id.example.org", id_access_token: "iat" });
    expect(calls[0]!.url).toBe("https://id.example.org/_matrix/identity/v2/3pid/bind");
    expect((calls[0]!.init.headers as Record<string, string>).authorization).toBe("Bearer iat");
    expect(JSON.parse(calls[0]!.init.body as string)).toEqual({ sid: "s1", client_secret: "cs", mxid: "@u:hs" });
    expect(bindings).toEqual([{ medium: "email", address: "a@b.org", id_server: "id.example.org" }]);
  });

  it("passes the identity server's refusal on, and refuses untrusted servers without calling them", async () => {
    const fake = (async () =>
      new Response(JSON.stringify({ errcode: "M_SESSION_NOT_VALIDATED", error: "not validated" }), { status: 400 })) as unknown as typeof fetch;
    await expect(
      service(fake, []).bind("@u:hs", { client_secret: "cs", sid: "s1", id_server: "id.example.org", id_access_token: "iat" }),
    ).rejects.toMatchObject({ errcode: "M_SESSION_NOT_VALIDATED" });
    let called = false;
    const spy = (async () => {
      called = true;
      return new Response("{}");
    }) as unknown as typeof fetch;
    await expect(service(spy, []).bind("@u:hs", { client_secret: "c", sid: "s", id_server: "evil.org", id_access_token: "t" })).rejects.toMatchObject({
      errcode: "M_SERVER_NOT_TRUSTED",
    });
    await expect(service(spy, [], []).bind("@u:hs", { client_secret: "c", sid: "s", id_server: "https://x/", id_access_token: "t" })).rejects.toMatchObject({
      errcode: "M_INVALID_PARAM",
    });
    expect(called).toBe(false);
  });

  it("unbinds at the server it bound through, signed by the homeserver, and says whether that worked", async () => {
    const calls: Array<{ url: string; auth: string; body: unknown }> = [];
    let status = 200;
    const fake = (async (url: string, init: RequestInit) => {
      calls.push({ url, auth: (init.headers as Record<string, string>).authorization!, body: JSON.parse(init.body as string) });
      return new Response("{}", { status });
    }) as unknown as typeof fetch;
    const bindings: Binding[] = [{ medium: "email", address: "a@b.org", id_server: "id.example.org" }];
    const svc = service(fake, bindings);
    expect(await svc.unbind("@u:hs", "email", "a@b.org", undefined)).toBe(true);
    expect(calls[0]!.url).toBe("https://id.example.org/_matrix/identity/v2/3pid/unbind");
    expect(calls[0]!.body).toEqual({ mxid: "@u:hs", threepid: { medium: "email", address: "a@b.org" } });
    expect(parseXMatrixHeader(calls[0]!.auth)).toMatchObject({ origin: "hs", destination: "id.example.org", key: "ed25519:k1" });
    expect(bindings).toEqual([]);
    // Nothing known and no id_server: nothing to ask.
    expect(await svc.unbind("@u:hs", "email", "a@b.org", undefined)).toBe(true);
    expect(calls).toHaveLength(1);
    // A named server is asked even without a record; its refusal is "no-support".
    status = 400;
    expect(await svc.unbind("@u:hs", "email", "x@b.org", "id.example.org")).toBe(false);
    expect(calls).toHaveLength(2);
  });

  it("requestToken without SMTP is M_THREEPID_MEDIUM_NOT_SUPPORTED", async () => {
    await expect(service(fetch, []).requestEmailToken({ client_secret: "c", email: "a@b.org", send_attempt: 1 }, "add")).rejects.toMatchObject({
      errcode: "M_THREEPID_MEDIUM_NOT_SUPPORTED",
    });
  });
});
