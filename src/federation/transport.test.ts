import { describe, expect, it } from "vitest";
import { FederationTransport, TransportError } from "./transport.js";

describe("FederationTransport address guard", () => {
  it("refuses loopback and private addresses unless allowed, on the address actually dialled", async () => {
    const t = new FederationTransport({ verifyTls: true, allowPrivateAddresses: false, resolver: async () => ["10.1.2.3"], srv: async () => [] });
    try {
      await expect(t.request("127.0.0.1:1", "GET", "/_matrix/key/v2/server")).rejects.toThrow(/not allowed/);
      // A public-looking name whose DNS answer is private.
      await expect(t.request("evil.example:8448", "GET", "/_matrix/key/v2/server")).rejects.toBeInstanceOf(TransportError);
      await expect(t.request("evil.example:8448", "GET", "/_matrix/key/v2/server")).rejects.toThrow(/not allowed/);
    } finally {
      await t.close();
    }
  });

  it("dials private addresses when allowed (here: nothing listens, so the error is a connection failure)", async () => {
    const t = new FederationTransport({ verifyTls: true, allowPrivateAddresses: true, connectTimeoutMs: 2_000 });
    try {
      const err = await t.request("127.0.0.1:1", "GET", "/_matrix/key/v2/server").catch((e: Error) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect((err as Error).message).not.toMatch(/not allowed/);
    } finally {
      await t.close();
    }
  });
});
