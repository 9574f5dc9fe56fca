import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type J, registerSession, type Session } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";

let hs: TestServer;
type U = Session;
let alice: U;
let bob: U;
let guest: U;

const enc = encodeURIComponent;

const user = (name: string): Promise<U> => registerSession(hs, name);

const v3 = <T = J>(method: string, path: string, token: string, body?: unknown) =>
  hs.request<T>(method, `/_matrix/client/v3${path}`, { token, body });

async function createRoom(body: J): Promise<string> {
  const r = await v3("POST", "/createRoom", alice.token, body);
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  return r.json.room_id as string;
}

beforeAll(async () => {
  hs = await startTestServer({ registration: { enabled: true, allow_guests: true }, password_policy: { scrypt_cost: 1024 } });
  [alice, bob] = await Promise.all([user("alice"), user("bob")]);
  const g = await hs.request<J>("POST", "/_matrix/client/v3/register?kind=guest", { body: {} });
  expect(g.status).toBe(200);
  guest = { token: g.json.access_token as string, userId: g.json.user_id as string, deviceId: g.json.device_id as string };
}, 60_000);
afterAll(() => hs?.close());

describe("guest access", () => {
  it("guests join only rooms whose m.room.guest_access is can_join", async () => {
    const closed = await createRoom({ preset: "public_chat" });
    const refused = await v3("POST", `/join/${enc(closed)}`, guest.token, {});
    expect(refused.status).toBe(403);
    expect(refused.json.errcode).toBe("M_GUEST_ACCESS_FORBIDDEN");
    // A full account may join the same room.
    expect((await v3("POST", `/join/${enc(closed)}`, bob.token, {})).status).toBe(200);

    const open = await createRoom({ preset: "public_chat", initial_state: [{ type: "m.room.guest_access", content: { guest_access: "can_join" } }] });
    const gj = await v3("POST", `/rooms/${enc(open)}/join`, guest.token, {});
    expect(gj.status, JSON.stringify(gj.json)).toBe(200);
    const sent = await v3("PUT", `/rooms/${enc(open)}/send/m.room.message/g1`, guest.token, { msgtype: "m.text", body: "hi from a guest" });
    expect(sent.status).toBe(200);

    // Revoking guest access makes joined guests leave; full members stay.
    expect((await v3("POST", `/join/${enc(open)}`, bob.token, {})).status).toBe(200);
    const revoke = await v3("PUT", `/rooms/${enc(open)}/state/m.room.guest_access`, alice.token, { guest_access: "forbidden" });
    expect(revoke.status).toBe(200);
    const members = await v3("GET", `/rooms/${enc(open)}/joined_members`, alice.token);
    expect(Object.keys(members.json.joined).sort()).toEqual([alice.userId, bob.userId].sort());
    const m = await v3("GET", `/rooms/${enc(open)}/state/m.room.member/${enc(guest.userId)}`, alice.token);
    expect(m.json.membership).toBe("leave");
    const again = await v3("POST", `/join/${enc(open)}`, guest.token, {});
    expect(again.json.errcode).toBe("M_GUEST_ACCESS_FORBIDDEN");
  });

  it("guests cannot create rooms", async () => {
    const r = await v3("POST", "/createRoom", guest.token, {});
    expect(r.status).toBe(403);
    expect(r.json.errcode).toBe("M_GUEST_ACCESS_FORBIDDEN");
  });
});

describe("peeking into world-readable rooms", () => {
  it("non-members and guests read /messages, /state and /event of a world_readable room", async () => {
    const roomId = await createRoom({
      preset: "public_chat",
      name: "Readable",
      initial_state: [{ type: "m.room.history_visibility", content: { history_visibility: "world_readable" } }],
    });
    const ev = (await v3("PUT", `/rooms/${enc(roomId)}/send/m.room.message/p1`, alice.token, { msgtype: "m.text", body: "public words" })).json.event_id;
    for (const u of [bob, guest]) {
      const msgs = await v3("GET", `/rooms/${enc(roomId)}/messages?dir=b&limit=10`, u.token);
      expect(msgs.status).toBe(200);
      expect((msgs.json.chunk as J[]).map((e) => e.event_id)).toContain(ev);
      const state = await v3("GET", `/rooms/${enc(roomId)}/state`, u.token);
      expect(state.status).toBe(200);
      expect((state.json as unknown as J[]).some((e) => e.type === "m.room.name")).toBe(true);
      const one = await v3("GET", `/rooms/${enc(roomId)}/event/${enc(ev)}`, u.token);
      expect(one.status).toBe(200);
      expect(one.json.content.body).toBe("public words");
      const name = await v3("GET", `/rooms/${enc(roomId)}/state/m.room.name`, u.token);
      expect(name.json).toEqual({ name: "Readable" });
    }
  });

  it("GET /rooms/{roomId}/initialSync previews a world_readable room for a non-member", async () => {
    const roomId = await createRoom({
      preset: "public_chat",
      name: "Preview",
      initial_state: [{ type: "m.room.history_visibility", content: { history_visibility: "world_readable" } }],
    });
    const ids: string[] = [];
    for (const body of ["one", "two"]) {
      ids.push((await v3("PUT", `/rooms/${enc(roomId)}/send/m.room.message/${body}`, alice.token, { msgtype: "m.text", body })).json.event_id);
    }
    const r = await v3("GET", `/rooms/${enc(roomId)}/initialSync`, guest.token);
    expect(r.status).toBe(200);
    expect(r.json.room_id).toBe(roomId);
    expect(r.json).not.toHaveProperty("membership");
    const chunk = (r.json.messages.chunk as J[]).map((e) => e.event_id);
    expect(chunk.slice(-2)).toEqual(ids);
    expect(typeof r.json.messages.start).toBe("string");
    expect(typeof r.json.messages.end).toBe("string");
    expect((r.json.state as J[]).some((e) => e.type === "m.room.name" && e.content.name === "Preview")).toBe(true);
    const mine = await v3("GET", `/rooms/${enc(roomId)}/initialSync`, alice.token);
    expect(mine.json.membership).toBe("join");
    const closed = await createRoom({ preset: "public_chat" });
    const refused = await v3("GET", `/rooms/${enc(closed)}/initialSync`, bob.token);
    expect(refused.status).toBe(403);
    expect(refused.json.errcode).toBe("M_FORBIDDEN");
  });

  it("GET /events?room_id= follows a peeked room: returns new events, waits for the next one", async () => {
    const roomId = await createRoom({
      preset: "public_chat",
      initial_state: [{ type: "m.room.history_visibility", content: { history_visibility: "world_readable" } }],
    });
    const init = await v3("GET", `/rooms/${enc(roomId)}/initialSync`, bob.token);
    let from = init.json.messages.end as string;
    const first = (await v3("PUT", `/rooms/${enc(roomId)}/send/m.room.message/e1`, alice.token, { msgtype: "m.text", body: "one" })).json.event_id;
    const r1 = await v3("GET", `/events?room_id=${enc(roomId)}&from=${enc(from)}&timeout=0`, bob.token);
    expect(r1.status).toBe(200);
    expect((r1.json.chunk as J[]).map((e) => e.event_id)).toEqual([first]);
    from = r1.json.end as string;
    // Nothing new: the request waits until an event arrives.
    const waiting = v3("GET", `/events?room_id=${enc(roomId)}&from=${enc(from)}&timeout=10000`, guest.token);
    await new Promise((res) => setTimeout(res, 100));
    const second = (await v3("PUT", `/rooms/${enc(roomId)}/send/m.room.message/e2`, alice.token, { msgtype: "m.text", body: "two" })).json.event_id;
    const r2 = await waiting;
    expect((r2.json.chunk as J[]).map((e) => e.event_id)).toEqual([second]);
    const idle = await v3("GET", `/events?room_id=${enc(roomId)}&from=${enc(r2.json.end)}&timeout=50`, bob.token);
    expect(idle.json.chunk).toEqual([]);
    expect(idle.json.end).toBe(r2.json.end);
    const closed = await createRoom({ preset: "public_chat" });
    const refused = await v3("GET", `/events?room_id=${enc(closed)}&timeout=0`, bob.token);
    expect(refused.status).toBe(403);
    expect(refused.json.errcode).toBe("M_FORBIDDEN");
  });

  it("refuses non-members in rooms that are not world_readable", async () => {
    const roomId = await createRoom({ preset: "public_chat" });
    const ev = (await v3("PUT", `/rooms/${enc(roomId)}/send/m.room.message/p2`, alice.token, { msgtype: "m.text", body: "members only" })).json.event_id;
    const msgs = await v3("GET", `/rooms/${enc(roomId)}/messages?dir=b`, bob.token);
    expect(msgs.status).toBe(403);
    expect(msgs.json.errcode).toBe("M_FORBIDDEN");
    const state = await v3("GET", `/rooms/${enc(roomId)}/state`, guest.token);
    expect(state.status).toBe(403);
    expect(state.json.errcode).toBe("M_FORBIDDEN");
    const one = await v3("GET", `/rooms/${enc(roomId)}/event/${enc(ev)}`, bob.token);
    expect(one.status).toBe(404);
    expect(one.json.errcode).toBe("M_NOT_FOUND");
  });
});
