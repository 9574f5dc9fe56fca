import type { Context } from "koa";
import { describe, expect, it } from "vitest";
import type { DevicesRepo } from "../storage/devices-repo.js";
import type { AccessTokenRow, TokensRepo } from "../storage/tokens-repo.js";
import type { UserRow, UsersRepo } from "../storage/users-repo.js";
import { AccessTokenAuthenticator, AUTH_CACHE_TTL_MS, hashToken } from "./access-tokens.js";

/** In-memory token and user tables that count the reads the authenticator makes. */
function setup() {
  const tokens = new Map<string, AccessTokenRow>();
  const users = new Map<string, Partial<UserRow>>();
  const reads = { tokens: 0, users: 0 };
  let now = 1_000_000;
  let beforeTokenRead: (() => void) | undefined;
  const tokensRepo = {
    getAccessToken: async (hash: string) => {
      reads.tokens++;
      const row = tokens.get(hash);
      beforeTokenRead?.();
      return row ? { ...row } : undefined;
    },
    touchAccessToken: async () => {},
    retireReplaced: async () => {},
  } as unknown as TokensRepo;
  const usersRepo = {
    get: async (id: string) => {
      reads.users++;
      const u = users.get(id);
      return u ? ({ ...u } as UserRow) : undefined;
    },
  } as unknown as UsersRepo;
  const devices = { touch: async () => {} } as unknown as DevicesRepo;
  const auth = new AccessTokenAuthenticator({ tokens: tokensRepo, users: usersRepo, devices, clock: { now: () => now }, allowQueryParam: false });
  const addToken = (token: string, userId: string, validUntil: number | null = null) => {
    tokens.set(hashToken(token), {
      token_hash: hashToken(token),
      user_id: userId,
      device_id: "DEV",
      created_ts: now,
      valid_until_ts: validUntil,
      refresh_token_id: null,
      last_used_ts: null,
    });
    if (!users.has(userId)) users.set(userId, { user_id: userId, deactivated: false, locked: false, is_guest: false });
  };
  const ctx = (token: string) => ({ get: (h: string) => (h === "authorization" ? `Bearer ${token}` : ""), query: {}, ip: "127.0.0.1" }) as unknown as Context;
  const errcode = (p: Promise<unknown>) =>
    p.then(
      () => "ok",
      (e: { errcode?: string }) => e.errcode,
    );
  return {
    auth,
    tokens,
    users,
    reads,
    addToken,
    ctx,
    errcode,
    advance: (ms: number) => (now += ms),
    onTokenRead: (f: (() => void) | undefined) => (beforeTokenRead = f),
  };
}

describe("AccessTokenAuthenticator cache", () => {
  it("answers repeated requests without queries until the TTL passes", async () => {
    const t = setup();
    t.addToken("tok", "@a:hs");
    expect((await t.auth.authenticate(t.ctx("tok"))).userId).toBe("@a:hs");
    expect((await t.auth.authenticate(t.ctx("tok"))).userId).toBe("@a:hs");
    expect(t.reads).toEqual({ tokens: 1, users: 1 });
    t.advance(AUTH_CACHE_TTL_MS);
    await t.auth.authenticate(t.ctx("tok"));
    expect(t.reads).toEqual({ tokens: 2, users: 2 });
  });

  it("refuses an expired token even while it is cached (soft logout)", async () => {
    const t = setup();
    t.addToken("tok", "@a:hs", 1_000_000 + 500);
    expect(await t.errcode(t.auth.authenticate(t.ctx("tok")))).toBe("ok");
    t.advance(499);
    expect(await t.errcode(t.auth.authenticate(t.ctx("tok")))).toBe("ok");
    t.advance(1);
    const err = await t.auth.authenticate(t.ctx("tok")).catch((e: { errcode: string; extra?: unknown; body?: unknown }) => e);
    expect(await t.errcode(t.auth.authenticate(t.ctx("tok")))).toBe("M_UNKNOWN_TOKEN");
    expect(JSON.stringify(err)).toContain("soft_logout");
    expect(t.reads.tokens).toBe(1);
  });

  it("a revoked token is refused at once after invalidateUser (logout, device deletion)", async () => {
    const t = setup();
    t.addToken("tok", "@a:hs");
    t.addToken("other", "@b:hs");
    await t.auth.authenticate(t.ctx("tok"));
    await t.auth.authenticate(t.ctx("other"));
    t.tokens.delete(hashToken("tok"));
    t.auth.invalidateUser("@a:hs");
    expect(await t.errcode(t.auth.authenticate(t.ctx("tok")))).toBe("M_UNKNOWN_TOKEN");
    // Other users' entries stay cached.
    const before = t.reads.tokens;
    await t.auth.authenticate(t.ctx("other"));
    expect(t.reads.tokens).toBe(before);
  });

  it("a lock or deactivation takes effect at once after invalidateUser", async () => {
    const t = setup();
    t.addToken("tok", "@a:hs");
    await t.auth.authenticate(t.ctx("tok"));
    t.users.get("@a:hs")!.locked = true;
    t.auth.invalidateUser("@a:hs");
    expect(await t.errcode(t.auth.authenticate(t.ctx("tok")))).toBe("M_USER_LOCKED");
    expect(await t.errcode(t.auth.authenticateToken(t.ctx("tok"), { allowLocked: true }))).toBe("ok");
    t.users.get("@a:hs")!.deactivated = true;
    t.auth.invalidateUser("@a:hs");
    expect(await t.errcode(t.auth.authenticate(t.ctx("tok")))).toBe("M_UNKNOWN_TOKEN");
  });

  it("does not cache what a lookup read while an invalidation ran", async () => {
    const t = setup();
    t.addToken("tok", "@a:hs");
    // The revocation commits (and invalidates) while this request's read is in flight with the old row.
    t.onTokenRead(() => {
      t.tokens.delete(hashToken("tok"));
      t.auth.invalidateUser("@a:hs");
    });
    expect(await t.errcode(t.auth.authenticate(t.ctx("tok")))).toBe("ok");
    t.onTokenRead(undefined);
    expect(await t.errcode(t.auth.authenticate(t.ctx("tok")))).toBe("M_UNKNOWN_TOKEN");
  });

  it("forget drops one token's entry", async () => {
    const t = setup();
    t.addToken("tok", "@a:hs");
    await t.auth.authenticate(t.ctx("tok"));
    t.tokens.delete(hashToken("tok"));
    t.auth.forget(hashToken("tok"));
    expect(await t.errcode(t.auth.authenticate(t.ctx("tok")))).toBe("M_UNKNOWN_TOKEN");
  });
});
