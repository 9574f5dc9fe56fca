import { describe, expect, it } from "vitest";
import { forbidden } from "../http/errors.js";
import type { UiaRepo, UiaSessionRow } from "../storage/uia-repo.js";
import { systemRandom } from "./deps.js";
import { UiaChallenge, UiaService } from "./uia.js";

/** The part of UiaRepo the service uses, in memory. */
function memoryRepo(): UiaRepo {
  const sessions = new Map<string, UiaSessionRow>();
  return {
    async createSession(s: { sessionId: string; operation: string; userId: string | null; createdTs: number }) {
      sessions.set(s.sessionId, { session_id: s.sessionId, operation: s.operation, user_id: s.userId, completed: [], data: {}, created_ts: s.createdTs });
    },
    async getSession(id: string) {
      return sessions.get(id);
    },
    async completeStage(id: string, stage: string, data: Record<string, unknown>) {
      const s = sessions.get(id);
      if (!s) return undefined;
      if (!s.completed.includes(stage)) s.completed = [...s.completed, stage];
      s.data = { ...s.data, ...data };
      return s;
    },
    async deleteSession(id: string) {
      const s = sessions.get(id);
      sessions.delete(id);
      return s;
    },
    async deleteExpired(before: number) {
      const out = [...sessions.values()].filter((s) => s.created_ts < before);
      for (const s of out) sessions.delete(s.session_id);
      return out;
    },
  } as unknown as UiaRepo;
}

async function challenge(p: Promise<unknown>): Promise<UiaChallenge> {
  try {
    await p;
  } catch (e) {
    if (e instanceof UiaChallenge) return e;
    throw e;
  }
  throw new Error("expected a challenge");
}

describe("UiaService", () => {
  let now = 1000;
  const svc = new UiaService({ repo: memoryRepo(), clock: { now: () => now }, random: systemRandom, sessionLifetimeMs: 60_000 });
  svc.registerStage("m.login.dummy", async () => ({}));
  svc.registerStage("org.example.fail", async () => {
    throw forbidden("nope");
  });
  svc.registerStage("org.example.ok", async () => ({ seen: true }));
  const flows = [{ stages: ["org.example.ok", "m.login.dummy"] }, { stages: ["org.example.fail"] }];

  it("walks a two-stage flow, keeping the session and listing completed stages", async () => {
    const c1 = await challenge(svc.authenticate({ operation: "op", auth: undefined, userId: "@u:hs", flows }));
    expect(c1.status).toBe(401);
    const body = c1.toJSON();
    expect(body).toEqual({ flows, params: {}, session: expect.any(String), completed: [] });
    const session = body.session as string;
    const c2 = await challenge(svc.authenticate({ operation: "op", auth: { type: "org.example.ok", session }, userId: "@u:hs", flows }));
    expect(c2.toJSON().completed).toEqual(["org.example.ok"]);
    expect(c2.toJSON().errcode).toBeUndefined();
    const done = await svc.authenticate({ operation: "op", auth: { type: "m.login.dummy", session }, userId: "@u:hs", flows });
    expect(done.data).toEqual({ seen: true });
  });

  it("a failing stage answers 401 with the stage's errcode and the flows", async () => {
    const c = await challenge(svc.authenticate({ operation: "op", auth: { type: "org.example.fail" }, userId: "@u:hs", flows }));
    expect(c.toJSON()).toMatchObject({ errcode: "M_FORBIDDEN", error: "nope", flows });
  });

  it("a session serves only its operation and user, and expires", async () => {
    const c = await challenge(svc.authenticate({ operation: "op", auth: undefined, userId: "@u:hs", flows }));
    const session = c.toJSON().session as string;
    await expect(svc.authenticate({ operation: "other", auth: { session }, userId: "@u:hs", flows })).rejects.toMatchObject({ errcode: "M_FORBIDDEN" });
    await expect(svc.authenticate({ operation: "op", auth: { session }, userId: "@v:hs", flows })).rejects.toMatchObject({ errcode: "M_FORBIDDEN" });
    now += 120_000;
    await expect(svc.authenticate({ operation: "op", auth: { session }, userId: "@u:hs", flows })).rejects.toMatchObject({ status: 400, errcode: "M_UNKNOWN" });
  });
});
