import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_DENIED_RANGES, IpPolicy } from "../media/ip-ranges.js";
import { IdentityServers, IdentityServerUnreachable } from "./identity-servers.js";

// A TCP listener on loopback that only counts connections: whether the guard let a request through.
let listener: net.Server;
let port = 0;
let connections = 0;
beforeAll(async () => {
  listener = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((r) => listener.listen(0, "127.0.0.1", r));
  port = (listener.address() as net.AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => listener.close(() => r())));

function client(allow: string[], trusted: string[] = []) {
  return new IdentityServers({
    serverName: "hs.test",
    signingKey: { keyId: "ed25519:k", seed: randomBytes(32) },
    trusted,
    policy: new IpPolicy({ allow, deny: DEFAULT_DENIED_RANGES }),
    // A name that resolves to loopback, as a rebinding attacker's would.
    resolver: async (host) => (host === "id.attacker.test" ? ["127.0.0.1"] : []),
    timeoutMs: 2000,
  });
}

describe("IdentityServers", () => {
  it("never connects to a denied address, by IP or by a name resolving to it", async () => {
    const c = client([]);
    for (const server of [`127.0.0.1:${port}`, `id.attacker.test:${port}`]) {
      await expect(c.request(server, "GET", "/hash_details")).rejects.toBeInstanceOf(IdentityServerUnreachable);
    }
    expect(connections).toBe(0);
    await c.close();
  });

  it("connects where allow_ip_ranges permits it", async () => {
    const c = client(["127.0.0.1/32"]);
    // The listener hangs up, so the request fails, but only after the guard let it connect.
    await expect(c.request(`id.attacker.test:${port}`, "GET", "/hash_details")).rejects.toBeInstanceOf(IdentityServerUnreachable);
    expect(connections).toBe(1);
    await c.close();
  });

  it("refuses malformed and, with a list, untrusted id_server values before any request", async () => {
    const c = client([], ["id.example.org"]);
    expect(() => c.check("id.example.org")).not.toThrow();
    expect(() => c.check("other.example.org")).toThrow(expect.objectContaining({ errcode: "M_SERVER_NOT_TRUSTED" }));
    expect(() => c.check("https://id.example.org/")).toThrow(expect.objectContaining({ errcode: "M_INVALID_PARAM" }));
    await c.close();
  });
});
