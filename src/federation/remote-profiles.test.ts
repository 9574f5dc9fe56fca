import { describe, expect, it } from "vitest";
import { MatrixError } from "../http/errors.js";
import { FederationError } from "./client.js";
import { RemoteProfiles } from "./remote-profiles.js";

describe("RemoteProfiles", () => {
  it("asks the user's server once per minute, remembers unknown users, shares concurrent lookups", async () => {
    let now = 0;
    const asked: string[] = [];
    const client = {
      get: async (server: string, _path: string, opts?: { query?: Record<string, unknown> }) => {
        const user = String(opts?.query?.user_id);
        asked.push(`${server} ${user}`);
        if (user.startsWith("@ghost")) throw new FederationError(server, 404, "M_NOT_FOUND", "no");
        if (user.startsWith("@down")) throw new FederationError(server, 500, "M_UNKNOWN", "boom");
        return { displayname: "Eve", avatar_url: 7, "m.tz": "UTC" };
      },
    };
    const p = new RemoteProfiles({ client: client as never, now: () => now });
    const [x, y] = await Promise.all([p.profile("@eve:r.example"), p.profile("@eve:r.example")]);
    // A non-string avatar_url is dropped; other fields pass.
    expect(x).toEqual({ displayname: "Eve", "m.tz": "UTC" });
    expect(y).toBe(x);
    expect(await p.profile("@ghost:r.example")).toBeUndefined();
    expect(await p.profile("@ghost:r.example")).toBeUndefined();
    now = 30_000;
    await p.profile("@eve:r.example");
    expect(asked).toEqual(["r.example @eve:r.example", "r.example @ghost:r.example"]);
    now = 61_000;
    await p.profile("@eve:r.example");
    expect(asked).toHaveLength(3);
    const err = await p.profile("@down:r.example").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MatrixError);
    expect((err as MatrixError).status).toBe(502);
    expect(await p.profile("not a user id")).toBeUndefined();
  });
});
