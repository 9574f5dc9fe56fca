import { describe, expect, it } from "vitest";
import type { ThreepidRepo } from "../storage/threepid-repo.js";
import { systemRandom } from "./deps.js";
import { ThreepidService } from "./threepids.js";

function service(fetchImpl: typeof fetch, bindings: unknown[]) {
  const repo = {
    addBinding: async (...args: unknown[]) => void bindings.push(args),
  } as unknown as ThreepidRepo;
  return new ThreepidService({
    repo,
    mailer: undefined,
    clock: { now: () => 0 },
    random: systemRandom,
    serverName: "hs",
    clientBaseUrl: () => "http://hs",
    tokenLifetimeMs: 1000,
    trustedIdServers: ["id.example.org"],
    fetch: fetchImpl,
  });
}

describe("identity server binding (v2 API)", () => {
  it("posts sid, client_secret and mxid with the identity access token and records the binding", async () => {
    const calls: Array<{ url: string; init: RequestInit }> = [];
    const bindings: unknown[] = [];
    const fake = (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return new Response(JSON.stringify({ medium: "email", address: "a@b.org", mxid: "@u:hs", signatures: {} }), { status: 200 });
    }) as unknown as typeof fetch;
    await service(fake, bindings).bind("@u:hs", { client_secret: "cs", sid: "s1", id_server: "id.example.org", id_access_token: "iat" });
    expect(calls[0]!.url).toBe("https://id.example.org/_matrix/identity/v2/3pid/bind");
    expect((calls[0]!.init.headers as Record<string, string>).authorization).toBe("Bearer iat");
    expect(JSON.parse(calls[0]!.init.body as string)).toEqual({ sid: "s1", client_secret: "cs", mxid: "@u:hs" });
    expect(bindings).toEqual([["@u:hs", "email", "a@b.org", "id.example.org"]]);
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
    expect(called).toBe(false);
  });

  it("requestToken without SMTP is M_THREEPID_MEDIUM_NOT_SUPPORTED", async () => {
    await expect(service(fetch, []).requestEmailToken({ client_secret: "c", email: "a@b.org", send_attempt: 1 }, "add")).rejects.toMatchObject({
      errcode: "M_THREEPID_MEDIUM_NOT_SUPPORTED",
    });
  });
});
