import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EventVerdicts, MAIN_THREAD, PushActionsRepo, type SpanChange } from "../../src/storage/push-actions-repo.js";
import { openTestSql, testDatabaseUrl, type TestSql } from "../support/databases.js";

// The stored shape of push verdicts: one row per event for the class of joined
// members who share a verdict, rows of their own for the others, and unread
// counts derived from positions. Each step below states what every member
// should now see, as counting one verdict per member would give it.
const engine = testDatabaseUrl() ? "postgres" : "pglite";
const ROOM = "!r:hs";
const [S, A, B, C, D, E] = ["@s:hs", "@a:hs", "@b:hs", "@c:hs", "@d:hs", "@e:hs"];
const NOTIFY = JSON.stringify(["notify"]);
const HIGHLIGHT = JSON.stringify(["notify", { set_tweak: "highlight" }]);
const NOTHING = JSON.stringify([]);

let db: TestSql;
let repo: PushActionsRepo;
beforeAll(async () => {
  db = await openTestSql();
  repo = new PushActionsRepo(db.sql);
});
afterAll(() => db?.dispose());

/** Stores the event row (what receipts, redactions and type filters look up) and its push bookkeeping. */
async function event(
  pos: number,
  o: { sender?: string; type?: string; thread?: string; verdicts?: EventVerdicts; span?: SpanChange; remote?: boolean } = {},
): Promise<string> {
  const eventId = `$e${pos}`;
  const sender = o.sender ?? S;
  await db.sql.query(
    "INSERT INTO events (stream_ordering, event_id, room_id, type, sender, depth, origin_server_ts, pdu) VALUES ($1, $2, $3, $4, $5, $1, $6, '{}')",
    [pos, eventId, ROOM, o.type ?? "m.room.message", sender, pos * 10],
  );
  await db.sql.transaction((tx) =>
    repo.recordEvent(
      tx,
      { eventId, roomId: ROOM, threadId: o.thread ?? MAIN_THREAD, streamOrdering: pos, ts: pos * 10, sender },
      o.remote ? undefined : sender,
      o.verdicts ?? { exceptions: [] },
      o.span,
    ),
  );
  return eventId;
}

const join = (pos: number, user: string) => event(pos, { sender: user, type: "m.room.member", span: { userId: user, joined: true } });
const notifyAll = (extra: EventVerdicts["exceptions"] = []): EventVerdicts => ({ shared: { highlight: false, actions: NOTIFY }, exceptions: extra });

/** user -> { thread: [notifications, highlights] } in the room. */
async function counts(...users: string[]): Promise<Record<string, Record<string, [number, number]>>> {
  const out: Record<string, Record<string, [number, number]>> = {};
  for (const u of users) {
    out[u] = {};
    for (const c of await repo.counters(u, [ROOM])) out[u]![c.threadId] = [c.notificationCount, c.highlightCount];
  }
  return out;
}

describe(`push verdicts stored per class on ${engine}`, () => {
  it("derives every member's counts, lists and badges from the class verdicts and the exceptions", async () => {
    for (const [i, u] of [S, A, B, C].entries()) await join(i + 1, u);
    // 5: everyone notified but c, whose rules say otherwise.
    await event(5, { verdicts: notifyAll([{ userId: C, notify: false, highlight: false, actions: NOTHING }]) });
    // 6: b is mentioned: a verdict of b's own.
    await event(6, { verdicts: notifyAll([{ userId: B, notify: true, highlight: true, actions: HIGHLIGHT }]) });
    // 7: in a thread.
    await event(7, { thread: "$e5", verdicts: notifyAll() });
    expect(await counts(A, B, C, S)).toEqual({
      [A]: { main: [2, 0], $e5: [1, 0] },
      [B]: { main: [2, 1], $e5: [1, 0] },
      [C]: { main: [1, 0], $e5: [1, 0] },
      // The sender's own events are read by sending them.
      [S]: {},
    });

    // An unthreaded receipt covers every thread up to it; a threaded one only its thread.
    expect(await repo.markReceipt(A, ROOM, "", "$e6")).toBe(true);
    expect(await counts(A)).toEqual({ [A]: { $e5: [1, 0] } });
    expect(await repo.markReceipt(A, ROOM, "$e5", "$e7")).toBe(true);
    expect(await counts(A)).toEqual({ [A]: {} });
    expect(await repo.markReceipt(B, ROOM, MAIN_THREAD, "$e5")).toBe(true);
    expect(await counts(B)).toEqual({ [B]: { main: [1, 1], $e5: [1, 0] } });
    // A mark never moves back, and an unknown event changes nothing.
    expect(await repo.markReceipt(A, ROOM, "", "$e5")).toBe(true);
    expect(await repo.markReceipt(A, ROOM, "", "$nope")).toBe(false);
    expect(await counts(A)).toEqual({ [A]: {} });

    // 8 is redacted: it no longer counts, nor is listed.
    const redacted = await event(8, { verdicts: notifyAll() });
    expect(await counts(A, C)).toEqual({ [A]: { main: [1, 0] }, [C]: { main: [2, 0], $e5: [1, 0] } });
    await db.sql.transaction((tx) => repo.removeEvent(tx, redacted));
    expect(await counts(A, C)).toEqual({ [A]: {}, [C]: { main: [1, 0], $e5: [1, 0] } });

    // d joins after all of that: only what comes after the join counts.
    await join(9, D);
    await event(10, { verdicts: notifyAll() });
    // 11: a class that does not notify, with one member notified by their own rules.
    await event(11, { verdicts: { exceptions: [{ userId: D, notify: true, highlight: true, actions: HIGHLIGHT }] } });
    expect(await counts(A, D)).toEqual({ [A]: { main: [1, 0] }, [D]: { main: [2, 1] } });

    // b leaves: no counts; what came after is not b's.
    await event(12, { sender: B, type: "m.room.member", span: { userId: B, joined: false } });
    await event(13, { verdicts: notifyAll() });
    expect(await counts(B)).toEqual({ [B]: {} });
    expect(await repo.unreadTotal(B)).toBe(0);

    // An invitee is outside the class: a row of their own when notified, listed but not counted.
    await event(14, { type: "m.room.member", verdicts: { exceptions: [{ userId: E, notify: true, highlight: false, actions: NOTIFY }] } });
    expect(await counts(E)).toEqual({ [E]: {} });
    expect((await repo.notifications(E, undefined, 10, false)).map((n) => n.eventId)).toEqual(["$e14"]);

    await event(15, { type: "m.call.invite", verdicts: notifyAll() });
    expect(await repo.unreadOfType(C, "m.call.invite")).toBe(1);
    expect(await repo.unreadOfType(A, "m.call.invite")).toBe(1);
    expect(await repo.unreadOfType(A, "m.room.message")).toBe(2);
    expect(await repo.unreadTotal(A)).toBe(3);
    expect(await repo.unreadTotal(C)).toBe(5);

    // Pushers read a member's verdicts in order: the class's where the member has none of their own.
    const pushed = await repo.actionsIn(B, 0, 100, 10);
    expect(pushed.map((r) => [r.streamOrdering, r.highlight, r.actions])).toEqual([
      [5, false, ["notify"]],
      [6, true, ["notify", { set_tweak: "highlight" }]],
      [7, false, ["notify"]],
      [10, false, ["notify"]],
    ]);
    expect((await repo.actionsIn(C, 5, 100, 2)).map((r) => r.streamOrdering)).toEqual([6, 7]);
    expect((await repo.actionsIn(D, 0, 100, 10)).map((r) => r.streamOrdering)).toEqual([10, 11, 13, 15]);
    expect(await repo.actionsIn(S, 0, 100, 10)).toEqual([]);

    // GET /notifications: newest first, with whether each is read, paged by position.
    const listed = await repo.notifications(A, undefined, 3, false);
    expect(listed.map((n) => [n.eventId, n.read])).toEqual([
      ["$e15", false],
      ["$e13", false],
      ["$e10", false],
    ]);
    expect((await repo.notifications(A, 10, 10, false)).map((n) => [n.eventId, n.read])).toEqual([
      ["$e7", true],
      ["$e6", true],
      ["$e5", true],
    ]);
    expect((await repo.notifications(B, undefined, 10, true)).map((n) => n.eventId)).toEqual(["$e6"]);
    expect((await repo.notifications(C, undefined, 10, false)).map((n) => n.eventId)).toEqual(["$e15", "$e13", "$e10", "$e7", "$e6"]);

    // A remote member kicks d: the membership alone ends d's place in the class.
    await event(16, { sender: "@r:elsewhere", remote: true, type: "m.room.member", span: { userId: D, joined: false } });
    await event(17, { verdicts: notifyAll() });
    expect(await counts(D)).toEqual({ [D]: {} });
    expect((await repo.actionsIn(D, 0, 100, 10)).map((r) => r.streamOrdering)).toEqual([10, 11, 13, 15]);
    // Rejoining starts afresh: what came while d was away is not d's.
    await join(18, D);
    await event(19, { verdicts: notifyAll() });
    expect(await counts(D)).toEqual({ [D]: { main: [1, 0] } });
    expect((await repo.notifications(D, undefined, 10, false)).map((n) => n.eventId)).toEqual(["$e19", "$e15", "$e13", "$e11", "$e10"]);
  });
});
