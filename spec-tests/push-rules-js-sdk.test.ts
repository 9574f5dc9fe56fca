import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientEvent, createClient, NotificationCountType, PushRuleKind, SyncState, type MatrixClient, type MatrixEvent } from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { registerUser } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";
import { api, createRoom, enc, join, newUser, send } from "./sync-helpers.js";

(logger as unknown as { disableAll(): void }).disableAll();

// matrix-js-sdk fetches GET /pushrules/ before its first /sync and will not
// start without it: no client-side stub here, the server's rules are used.
let hs: TestServer;
let alice: MatrixClient;

function pushRulesEvent(c: MatrixClient, match: (e: MatrixEvent) => boolean): Promise<MatrixEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timed out waiting for m.push_rules")), 10_000);
    const onData = (e: MatrixEvent) => {
      if (e.getType() !== "m.push_rules" || !match(e)) return;
      clearTimeout(timer);
      c.off(ClientEvent.AccountData, onData);
      resolve(e);
    };
    c.on(ClientEvent.AccountData, onData);
  });
}

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true }, password_policy: { scrypt_cost: 1024 } });
  const s = await registerUser(hs, "prjs");
  alice = createClient({ baseUrl: hs.url, accessToken: s.access_token, userId: s.user_id, deviceId: s.device_id });
}, 60_000);

let threaded: MatrixClient | undefined;

afterAll(async () => {
  alice?.stopClient();
  threaded?.stopClient();
  await hs?.close();
});

describe("push rules through matrix-js-sdk", () => {
  it("startClient reaches PREPARED with the server's push rules", async () => {
    const prepared = new Promise<void>((resolve, reject) => {
      const onSync = (state: SyncState) => {
        if (state === SyncState.Prepared) resolve();
        else if (state === SyncState.Error) reject(new Error("sync error"));
      };
      alice.on(ClientEvent.Sync, onSync);
    });
    await alice.startClient({ initialSyncLimit: 10 });
    await prepared;
    const override = alice.pushRules?.global.override ?? [];
    expect(override[0]).toMatchObject({ rule_id: ".m.rule.master", enabled: false });
    expect(alice.pushRules?.global.underride?.map((r) => r.rule_id)).toContain(".m.rule.message");
  });

  it("changes made through the SDK come back to it as m.push_rules", async () => {
    const enabled = pushRulesEvent(alice, (e) => e.getContent().global.override[0].enabled === true);
    await alice.setPushRuleEnabled("global", PushRuleKind.Override, ".m.rule.master", true);
    await enabled;
    expect(alice.pushRules?.global.override?.[0]?.enabled).toBe(true);

    const added = pushRulesEvent(alice, (e) => (e.getContent().global.room as unknown[]).length === 1);
    await alice.addPushRule("global", PushRuleKind.RoomSpecific, "!quiet:localhost", { actions: [] });
    await added;
    expect(alice.pushRules?.global.room).toEqual([{ rule_id: "!quiet:localhost", default: false, enabled: true, actions: [] }]);

    const removed = pushRulesEvent(alice, (e) => (e.getContent().global.room as unknown[]).length === 0);
    await alice.deletePushRule("global", PushRuleKind.RoomSpecific, "!quiet:localhost");
    await removed;
    expect(alice.pushRules?.global.room).toEqual([]);
  });
});

describe("per-thread unread counts through matrix-js-sdk", () => {
  it("the SDK shows the server's per-thread counts and clears them on a threaded receipt", async () => {
    const carol = await newUser(hs, "prjs_carol");
    const dan = await newUser(hs, "prjs_dan");
    threaded = createClient({ baseUrl: hs.url, accessToken: dan.token, userId: dan.userId, deviceId: dan.deviceId });
    // With thread support the SDK asks for unread_thread_notifications in its sync filter.
    const prepared = new Promise<void>((resolve) => threaded!.on(ClientEvent.Sync, (state: SyncState) => state === SyncState.Prepared && resolve()));
    await threaded.startClient({ initialSyncLimit: 10, threadSupport: true });
    await prepared;
    const roomId = await createRoom(hs, carol, { preset: "public_chat" });
    await join(hs, dan, roomId);
    const root = await send(hs, carol, roomId, "thread root");
    const reply = async (txn: string, body: string) =>
      (await api(hs, "PUT", `/rooms/${enc(roomId)}/send/m.room.message/${txn}`, carol.token, { msgtype: "m.text", body, "m.relates_to": { rel_type: "m.thread", event_id: root } }))
        .json.event_id as string;
    await reply("t1", "one");
    const last = await reply("t2", "two");
    const count = () => threaded!.getRoom(roomId)?.getThreadUnreadNotificationCount(root, NotificationCountType.Total) ?? -1;
    for (let i = 0; i < 250 && count() !== 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(count()).toBe(2);
    expect((await api(hs, "POST", `/rooms/${enc(roomId)}/receipt/m.read/${enc(last)}`, dan.token, { thread_id: root })).status).toBe(200);
    for (let i = 0; i < 250 && count() !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(count()).toBe(0);
    // The SDK loads a thread's first events through /relations in the background: that load
    // must succeed, and finish before the server stops.
    const thread = threaded.getRoom(roomId)?.getThread(root);
    for (let i = 0; i < 250 && !thread?.initialEventsFetched; i++) await new Promise((r) => setTimeout(r, 20));
    expect(thread?.initialEventsFetched).toBe(true);
  });
});
