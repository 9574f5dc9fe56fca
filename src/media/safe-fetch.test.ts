import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_DENIED_RANGES, IpPolicy } from "./ip-ranges.js";
import { BlockedAddressError, FetchLimitError, SafeFetcher, type Resolver } from "./safe-fetch.js";

// Two local servers: 127.0.0.2 plays "the internet" (allowed), 127.0.0.1 the admin's network.
let internal: http.Server;
let external: http.Server;
let internalPort = 0;
let externalPort = 0;

function listen(server: http.Server, host: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

beforeAll(async () => {
  internal = http.createServer((_req, res) => res.end("secret"));
  external = http.createServer((req, res) => {
    if (req.url === "/redirect-internal") {
      res.writeHead(302, { location: `http://127.0.0.1:${internalPort}/` });
      return res.end();
    }
    if (req.url === "/redirect-name") {
      res.writeHead(302, { location: `http://rebind.test:${internalPort}/` });
      return res.end();
    }
    if (req.url === "/big") return res.end(Buffer.alloc(5000));
    if (req.url === "/loop") {
      res.writeHead(302, { location: "/loop" });
      return res.end();
    }
    res.end("public page");
  });
  internalPort = await listen(internal, "127.0.0.1");
  externalPort = await listen(external, "127.0.0.2");
});
afterAll(() => {
  internal.close();
  external.close();
});

const policy = new IpPolicy({ allow: ["127.0.0.2/32"], deny: DEFAULT_DENIED_RANGES });
const resolver: Resolver = async (host) => {
  if (host === "public.test") return ["127.0.0.2"];
  if (host === "rebind.test") return ["127.0.0.1"];
  if (host === "mixed.test") return ["127.0.0.1", "127.0.0.2"];
  throw new Error("ENOTFOUND");
};
const fetcher = () => new SafeFetcher({ policy, resolver, timeoutMs: 5000, maxBytes: 1000, maxRedirects: 3 });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure");
}

const blocked = (err: unknown) => err instanceof BlockedAddressError || (err instanceof Error && err.cause instanceof BlockedAddressError);

describe("SafeFetcher", () => {
  it("fetches an allowed address, by IP and by name", async () => {
    const f = fetcher();
    expect((await f.get(`http://127.0.0.2:${externalPort}/`)).body.toString()).toBe("public page");
    expect((await f.get(`http://public.test:${externalPort}/`)).body.toString()).toBe("public page");
    await f.close();
  });

  it("refuses a loopback IP literal, a name resolving to loopback and a mapped IPv6 literal", async () => {
    const f = fetcher();
    expect(blocked(await rejection(f.get(`http://127.0.0.1:${internalPort}/`)))).toBe(true);
    expect(blocked(await rejection(f.get(`http://rebind.test:${internalPort}/`)))).toBe(true);
    expect(blocked(await rejection(f.get(`http://[::ffff:127.0.0.1]:${internalPort}/`)))).toBe(true);
    await f.close();
  });

  it("dials only the permitted address of a name with several", async () => {
    const f = fetcher();
    expect((await f.get(`http://mixed.test:${externalPort}/`)).body.toString()).toBe("public page");
    await f.close();
  });

  it("re-checks every redirect hop", async () => {
    const f = fetcher();
    expect(blocked(await rejection(f.get(`http://127.0.0.2:${externalPort}/redirect-internal`)))).toBe(true);
    expect(blocked(await rejection(f.get(`http://127.0.0.2:${externalPort}/redirect-name`)))).toBe(true);
    expect(await rejection(f.get(`http://127.0.0.2:${externalPort}/loop`))).toBeInstanceOf(FetchLimitError);
    await f.close();
  });

  it("stops reading at the size limit and refuses other schemes", async () => {
    const f = fetcher();
    expect(await rejection(f.get(`http://127.0.0.2:${externalPort}/big`))).toBeInstanceOf(FetchLimitError);
    expect(await rejection(f.get("file:///etc/passwd"))).toBeInstanceOf(FetchLimitError);
    await f.close();
  });
});
