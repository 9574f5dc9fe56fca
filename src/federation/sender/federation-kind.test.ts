import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../core/index.js";
import type { StreamEventRef } from "../../delivery/index.js";
import type { Logger } from "../../logging.js";
import type { FederationSenderRepo, MembershipChange, StoredEdu } from "../../storage/federation-sender-repo.js";
import { EphemeralEduQueue } from "./ephemeral-edus.js";
import { FederationTransactions } from "./federation-kind.js";

const SELF = "hs.test";
const PEER = "peer.test";

/** Room events and memberships in memory, answering the sender's repository questions. */
class FakeRepo {
  events: StreamEventRef[] = [];
  /** The membership delta stream: (position, room, user, membership). */
  deltas: Array<MembershipChange & { roomId: string }> = [];
  edus: Array<StoredEdu & { destination: string }> = [];
  private seq = 0;

  msg(roomId: string, sender = `@alice:${SELF}`): StreamEventRef {
    const r = { streamOrdering: ++this.seq, eventId: `$e${this.seq}`, roomId, type: "m.room.message", stateKey: null, sender };
    this.events.push(r);
    return r;
  }

  member(roomId: string, userId: string, membership: string, sender = userId): StreamEventRef {
    const r = { streamOrdering: ++this.seq, eventId: `$e${this.seq}`, roomId, type: "m.room.member", stateKey: userId, sender };
    this.events.push(r);
    this.deltas.push({ streamOrdering: r.streamOrdering, roomId, userId, membership });
    return r;
  }

  private current(roomId: string): Map<string, string | null> {
    const m = new Map<string, string | null>();
    for (const d of this.deltas) if (d.roomId === roomId) m.set(d.userId, d.membership);
    return m;
  }

  asRepo(): FederationSenderRepo {
    const self = this;
    const of = (u: string, server: string) => u.endsWith(`:${server}`);
    return {
      async serversInRoom(roomId: string) {
        return new Set([...self.current(roomId).keys()].map((u) => u.slice(u.indexOf(":") + 1)));
      },
      async joinedUsersOf(roomId: string, server: string) {
        return [...self.current(roomId)].filter(([u, m]) => m === "join" && of(u, server)).map(([u]) => u);
      },
      async changesFrom(roomId: string, server: string, from: number) {
        return self.deltas.filter((d) => d.roomId === roomId && d.streamOrdering >= from && of(d.userId, server));
      },
      async membershipsBefore(roomId: string, userIds: readonly string[], before: number) {
        const m = new Map<string, string | null>();
        for (const d of self.deltas) if (d.roomId === roomId && userIds.includes(d.userId) && d.streamOrdering < before) m.set(d.userId, d.membership);
        return m;
      },
      async newestLocalEvents(roomId: string, server: string, from: number, upTo: number, limit: number) {
        return self.events
          .filter((e) => e.roomId === roomId && e.streamOrdering >= from && e.streamOrdering <= upTo && of(e.sender, server))
          .reverse()
          .slice(0, limit);
      },
      async edusFor(destination: string, limit: number) {
        return self.edus.filter((e) => e.destination === destination).slice(0, limit);
      },
      async deleteEdus(destination: string, ids: readonly number[]) {
        self.edus = self.edus.filter((e) => e.destination !== destination || !ids.includes(e.id));
      },
    } as unknown as FederationSenderRepo;
  }

  head(): number {
    return this.seq;
  }
}

const silent = { info: () => undefined, warn: () => undefined } as unknown as Logger;

function setup() {
  const repo = new FakeRepo();
  const clock = { t: 1_000 };
  const ephemeral = new EphemeralEduQueue({ ttlMs: 60_000, maxPerDestination: 1000, now: () => clock.t });
  const puts: Array<{ destination: string; path: string; body: JsonObject }> = [];
  const answer: { next: JsonObject | Error } = { next: { pdus: {} } };
  const logged: unknown[] = [];
  const kind = new FederationTransactions({
    serverName: SELF,
    repo: repo.asRepo(),
    ephemeral,
    ephemeralTtlMs: 60_000,
    loadPdus: async (ids) => new Map(ids.map((id) => [id, { event_id: id } as JsonObject])),
    upTo: () => repo.head(),
    put: async (destination, path, body) => {
      puts.push({ destination, path, body });
      if (answer.next instanceof Error) throw answer.next;
      return answer.next;
    },
    now: () => clock.t,
    log: { ...silent, info: (o: unknown) => void logged.push(o) } as unknown as Logger,
  });
  return { repo, kind, clock, ephemeral, puts, answer, logged };
}

type Txn = { txn: { origin: string; origin_server_ts: number; pdus: Array<{ event_id: string }>; edus?: Array<{ edu_type: string }> }; eduIds: number[] };
const pduIds = (p: unknown) => (p as Txn).txn.pdus.map((x) => x.event_id);

describe("FederationTransactions.prepare", () => {
  it("sends local events of rooms the destination has joined, never others' events, never rooms it is not in", async () => {
    const { repo, kind, clock } = setup();
    repo.member("!r", `@alice:${SELF}`, "join");
    repo.member("!r", `@bob:${PEER}`, "join");
    const mine = repo.msg("!r");
    repo.msg("!r", `@bob:${PEER}`);
    repo.msg("!other");
    clock.t = 5_000;
    const p = await kind.prepare(PEER, repo.events, {});
    expect(pduIds(p.payload)).toEqual([mine.eventId]);
    expect((p.payload as Txn).txn.origin).toBe(SELF);
    expect((p.payload as Txn).txn.origin_server_ts).toBe(5_000);
    expect((p.payload as Txn).txn.edus).toBeUndefined();
    expect(p.through).toBeUndefined();
  });

  it("sends a kick to the kicked user's server and nothing of that room after it; nothing before its join", async () => {
    const { repo, kind } = setup();
    repo.member("!r", `@alice:${SELF}`, "join");
    const early = repo.msg("!r");
    repo.member("!r", `@bob:${PEER}`, "join");
    const a = repo.msg("!r");
    const kick = repo.member("!r", `@bob:${PEER}`, "leave", `@alice:${SELF}`);
    repo.msg("!r");
    const p = await kind.prepare(PEER, repo.events, {});
    expect(pduIds(p.payload)).toEqual([a.eventId, kick.eventId]);
    expect(pduIds(p.payload)).not.toContain(early.eventId);
  });

  it("does not send an invite of the destination's user (the invite flow does)", async () => {
    const { repo, kind } = setup();
    repo.member("!r", `@alice:${SELF}`, "join");
    repo.member("!r", `@bob:${PEER}`, "invite", `@alice:${SELF}`);
    const p = await kind.prepare(PEER, repo.events, {});
    expect(p.payload).toBeUndefined();
  });

  it("cuts a transaction at 50 PDUs and covers the batch only up to there", async () => {
    const { repo, kind } = setup();
    repo.member("!a", `@alice:${SELF}`, "join");
    repo.member("!a", `@bob:${PEER}`, "join");
    repo.member("!b", `@alice:${SELF}`, "join");
    repo.member("!b", `@bob:${PEER}`, "join");
    for (let i = 0; i < 30; i++) repo.msg("!a");
    for (let i = 0; i < 30; i++) repo.msg("!b");
    const p = await kind.prepare(PEER, repo.events, {});
    const ids = pduIds(p.payload);
    expect(ids).toHaveLength(50);
    const firstLeftOut = repo.events.find((e) => e.type === "m.room.message" && !ids.includes(e.eventId))!;
    expect(p.through).toBe(firstLeftOut.streamOrdering - 1);
  });

  it("catches up a room more than 50 events behind by its newest 50, then skips what it covered", async () => {
    const { repo, kind } = setup();
    repo.member("!r", `@alice:${SELF}`, "join");
    repo.member("!r", `@bob:${PEER}`, "join");
    const msgs = Array.from({ length: 80 }, () => repo.msg("!r"));
    const p = await kind.prepare(PEER, repo.events.slice(0, 40), {});
    expect(pduIds(p.payload)).toEqual(msgs.slice(30).map((m) => m.eventId));
    expect(p.cursor.skip).toEqual({ "!r": msgs[79]!.streamOrdering });
    // The rest of the backlog is passed over; a later event goes as usual.
    const rest = await kind.prepare(PEER, repo.events.slice(40), p.cursor);
    expect(rest.payload).toBeUndefined();
    const next = repo.msg("!r");
    const live = await kind.prepare(PEER, [next], rest.cursor);
    expect(pduIds(live.payload)).toEqual([next.eventId]);
    expect(live.cursor.skip).toBeUndefined();
  });

  it("carries durable EDUs first, then in-memory ones, at most 100, and says when more wait", async () => {
    const { repo, kind, ephemeral } = setup();
    for (let i = 1; i <= 98; i++) repo.edus.push({ id: i, destination: PEER, eduType: "m.direct_to_device", content: { i }, createdTs: 0 });
    for (let i = 0; i < 3; i++) ephemeral.push(PEER, { edu_type: "x.e", content: { i } });
    const p = await kind.prepare(PEER, [], {});
    const t = p.payload as Txn;
    expect(t.txn.pdus).toEqual([]);
    expect(t.txn.edus).toHaveLength(100);
    expect(t.txn.edus!.slice(-2).map((e) => e.edu_type)).toEqual(["x.e", "x.e"]);
    expect(t.eduIds).toHaveLength(98);
    expect(p.more).toBe(true);
  });
  it("drops stored typing, receipts and presence once stale (a cluster stores them), and sends the fresh ones", async () => {
    const { repo, kind, clock } = setup();
    repo.edus.push({ id: 1, destination: PEER, eduType: "m.typing", content: { old: true }, createdTs: clock.t });
    clock.t += 60_001;
    repo.edus.push({ id: 2, destination: PEER, eduType: "m.receipt", content: { fresh: true }, createdTs: clock.t });
    repo.edus.push({ id: 3, destination: PEER, eduType: "m.direct_to_device", content: { old: true }, createdTs: 0 });
    const p = await kind.prepare(PEER, [], {});
    const t = p.payload as Txn;
    expect(t.txn.edus!.map((e) => e.edu_type)).toEqual(["m.receipt", "m.direct_to_device"]);
    // The stale one goes with the transaction's ids, so the 200 deletes it too.
    expect(t.eduIds).toEqual([1, 2, 3]);
    // Only stale ones left: nothing is sent, they are deleted.
    repo.edus.length = 0;
    repo.edus.push({ id: 4, destination: PEER, eduType: "m.presence", content: {}, createdTs: clock.t });
    clock.t += 60_001;
    expect((await kind.prepare(PEER, [], {})).payload).toBeUndefined();
    expect(repo.edus).toHaveLength(0);
  });
});

describe("FederationTransactions.send", () => {
  it("PUTs the transaction, deletes the durable EDUs it carried after a 200, logs refused PDUs", async () => {
    const { repo, kind, puts, answer, logged } = setup();
    repo.edus.push({ id: 7, destination: PEER, eduType: "m.device_list_update", content: {}, createdTs: 0 });
    const p = await kind.prepare(PEER, [], {});
    answer.next = new Error("down");
    await expect(kind.send(PEER, "17", p.payload, new AbortController().signal)).rejects.toThrow("down");
    expect(repo.edus).toHaveLength(1);
    // A request from it while it fails ends the backoff (FederationSender.heardFrom).
    expect(kind.isFailing(PEER)).toBe(true);
    answer.next = { pdus: { $x: { error: "bad" }, $y: {} } };
    await kind.send(PEER, "17", p.payload, new AbortController().signal);
    expect(puts.map((x) => x.path)).toEqual(["/_matrix/federation/v1/send/17", "/_matrix/federation/v1/send/17"]);
    expect(puts[0]!.body).toEqual(puts[1]!.body);
    expect(repo.edus).toHaveLength(0);
    expect(kind.isFailing(PEER)).toBe(false);
    expect(logged).toEqual([expect.objectContaining({ eventId: "$x", error: "bad" })]);
  });

  it("gives up a transaction of in-memory EDUs only once they are stale, never one with PDUs or durable EDUs", async () => {
    const { repo, kind, clock, ephemeral, puts, answer } = setup();
    ephemeral.push(PEER, { edu_type: "m.typing", content: { room_id: "!r", user_id: `@alice:${SELF}`, typing: true } });
    const typingOnly = await kind.prepare(PEER, [], {});
    repo.edus.push({ id: 9, destination: PEER, eduType: "m.direct_to_device", content: {}, createdTs: 0 });
    const durable = await kind.prepare(PEER, [], {});
    answer.next = new Error("down");
    clock.t += 60_001;
    await kind.send(PEER, "1", typingOnly.payload, new AbortController().signal);
    expect(puts).toHaveLength(0);
    await expect(kind.send(PEER, "2", durable.payload, new AbortController().signal)).rejects.toThrow("down");
    expect(puts).toHaveLength(1);
  });
});
