import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { login, type J } from "./accounts-helpers.js";
import { startTestServer, type TestServer } from "./harness.js";
import { startSmtpSink, type SentMail } from "./smtp-sink.js";

let hs: TestServer;
let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
beforeAll(async () => {
  smtp = await startSmtpSink();
  hs = await startTestServer({
    registration: { enabled: true, require_email: true },
    password_policy: { scrypt_cost: 1024 },
    email: { smtp_host: "127.0.0.1", smtp_port: smtp.port, from: "Test HS <hs@localhost>" },
    identity_server: { trusted_servers: ["id.example.org"] },
  });
});
afterAll(async () => {
  await hs?.close();
  await smtp?.close();
});

function codeOf(mail: SentMail): string {
  const m = /enter this code in your client: (\S+)/.exec(mail.text);
  expect(m).not.toBeNull();
  return m![1]!;
}

function linkOf(mail: SentMail): string {
  const m = /(http:\/\/\S+submit_token\?\S+)/.exec(mail.text);
  expect(m).not.toBeNull();
  return m![1]!;
}

async function requestToken(path: string, email: string, clientSecret: string, sendAttempt = 1): Promise<{ sid: string; mail: SentMail }> {
  const before = smtp.mails.length;
  const r = await hs.request<J>("POST", path, { body: { client_secret: clientSecret, email, send_attempt: sendAttempt } });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
  expect(typeof r.json.sid).toBe("string");
  expect(r.json.submit_url).toMatch(/\/submit_token$/);
  expect(smtp.mails.length).toBe(before + 1);
  const mail = smtp.mails[smtp.mails.length - 1]!;
  expect(mail.to[0]).toContain(email.toLowerCase());
  return { sid: r.json.sid, mail };
}

describe("registration with an email stage", () => {
  it("validates by the emailed link and registers with m.login.email.identity", async () => {
    const c = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "mailer", password: "pw" } });
    expect(c.status).toBe(401);
    expect(c.json.flows).toEqual([{ stages: ["m.login.email.identity"] }]);
    const { sid, mail } = await requestToken("/_matrix/client/v3/register/email/requestToken", "Mailer@Example.org", "secret1");
    expect(mail.text).toContain("localhost");

    const creds = { sid, client_secret: "secret1" };
    const early = await hs.request<J>("POST", "/_matrix/client/v3/register", {
      body: { username: "mailer", password: "pw", auth: { type: "m.login.email.identity", threepid_creds: creds, session: c.json.session } },
    });
    expect(early.status).toBe(401);
    expect(early.json.errcode).toBe("M_UNAUTHORIZED");

    const link = linkOf(mail).replace(/^http:\/\/[^/]+/, hs.url);
    const clicked = await fetch(link);
    expect(clicked.status).toBe(200);

    const ok = await hs.request<J>("POST", "/_matrix/client/v3/register", {
      body: { username: "mailer", password: "pw", auth: { type: "m.login.email.identity", threepid_creds: creds, session: c.json.session } },
    });
    expect(ok.status).toBe(200);
    const list = await hs.request<J>("GET", "/_matrix/client/v3/account/3pid", { token: ok.json.access_token });
    expect(list.json.threepids).toHaveLength(1);
    expect(list.json.threepids[0]).toMatchObject({ medium: "email", address: "mailer@example.org" });

    const byEmail = await hs.request<J>("POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.thirdparty", medium: "email", address: "mailer@example.org" }, password: "pw" },
    });
    expect(byEmail.status).toBe(200);
    expect(byEmail.json.user_id).toBe("@mailer:localhost");
  });

  it("refuses an address already in use, bad secrets and phone numbers", async () => {
    const inUse = await hs.request<J>("POST", "/_matrix/client/v3/register/email/requestToken", { body: { client_secret: "s", email: "mailer@example.org", send_attempt: 1 } });
    expect(inUse.status).toBe(400);
    expect(inUse.json.errcode).toBe("M_THREEPID_IN_USE");
    const badSecret = await hs.request<J>("POST", "/_matrix/client/v3/register/email/requestToken", { body: { client_secret: "no spaces!", email: "a@b.org", send_attempt: 1 } });
    expect(badSecret.json.errcode).toBe("M_INVALID_PARAM");
    const badEmail = await hs.request<J>("POST", "/_matrix/client/v3/register/email/requestToken", { body: { client_secret: "s", email: "not-an-email", send_attempt: 1 } });
    expect(badEmail.json.errcode).toBe("M_INVALID_PARAM");
    const missing = await hs.request<J>("POST", "/_matrix/client/v3/register/email/requestToken", { body: { email: "a@b.org", send_attempt: 1 } });
    expect(missing.json.errcode).toBe("M_BAD_JSON");
    const phone = await hs.request<J>("POST", "/_matrix/client/v3/register/msisdn/requestToken", { body: { client_secret: "s", country: "GB", phone_number: "1", send_attempt: 1 } });
    expect(phone.status).toBe(400);
    expect(phone.json.errcode).toBe("M_THREEPID_MEDIUM_NOT_SUPPORTED");
  });

  it("a repeated send_attempt returns the same session without another mail", async () => {
    const first = await requestToken("/_matrix/client/v3/register/email/requestToken", "again@example.org", "secret2");
    const count = smtp.mails.length;
    const again = await hs.request<J>("POST", "/_matrix/client/v3/register/email/requestToken", { body: { client_secret: "secret2", email: "again@example.org", send_attempt: 1 } });
    expect(again.json.sid).toBe(first.sid);
    expect(smtp.mails.length).toBe(count);
  });
});

describe("3PID management", () => {
  it("adds an address with the emailed code and UIA, lists and deletes it", async () => {
    const me = await login(hs, "mailer", "pw");
    const { sid, mail } = await requestToken("/_matrix/client/v3/account/3pid/email/requestToken", "second@example.org", "secret3");
    const notYet = await hs.request<J>("POST", "/_matrix/client/v3/account/3pid/add", { token: me.access_token, body: { sid, client_secret: "secret3" } });
    expect(notYet.status).toBe(401); // UIA first
    const wrongCode = await hs.request<J>("POST", "/_matrix/client/v3/account/3pid/email/submit_token", { body: { sid, client_secret: "secret3", token: "nope" } });
    expect(wrongCode.status).toBe(400);
    expect(wrongCode.json.errcode).toBe("M_INVALID_PARAM");
    const sub = await hs.request<J>("POST", "/_matrix/client/v3/account/3pid/email/submit_token", { body: { sid, client_secret: "secret3", token: codeOf(mail) } });
    expect(sub.json).toEqual({ success: true });
    const add = await hs.request<J>("POST", "/_matrix/client/v3/account/3pid/add", {
      token: me.access_token,
      body: { sid, client_secret: "secret3", auth: { type: "m.login.password", user: "mailer", password: "pw", session: notYet.json.session } },
    });
    expect(add.status, JSON.stringify(add.json)).toBe(200);
    const list = await hs.request<J>("GET", "/_matrix/client/v3/account/3pid", { token: me.access_token });
    expect(list.json.threepids.map((t: J) => t.address).sort()).toEqual(["mailer@example.org", "second@example.org"]);
    const del = await hs.request<J>("POST", "/_matrix/client/v3/account/3pid/delete", { token: me.access_token, body: { medium: "email", address: "second@example.org" } });
    expect(del.json).toEqual({ id_server_unbind_result: "success" });
    const after = await hs.request<J>("GET", "/_matrix/client/v3/account/3pid", { token: me.access_token });
    expect(after.json.threepids).toHaveLength(1);
    const badMedium = await hs.request<J>("POST", "/_matrix/client/v3/account/3pid/delete", { token: me.access_token, body: { medium: "fax", address: "x" } });
    expect(badMedium.json.errcode).toBe("M_BAD_JSON");
  });

  it("binding needs a trusted identity server", async () => {
    const me = await login(hs, "mailer", "pw");
    const r = await hs.request<J>("POST", "/_matrix/client/v3/account/3pid/bind", {
      token: me.access_token,
      body: { client_secret: "x", sid: "y", id_server: "evil.example.org", id_access_token: "t" },
    });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_SERVER_NOT_TRUSTED");
    // The pre-v3 unstable paths answer the same.
    const unstable = await hs.request<J>("POST", "/_matrix/client/unstable/account/3pid/bind", {
      token: me.access_token,
      body: { client_secret: "x", sid: "y", id_server: "evil.example.org", id_access_token: "t" },
    });
    expect([unstable.status, unstable.json.errcode]).toEqual([400, "M_SERVER_NOT_TRUSTED"]);
    const unbind = await hs.request<J>("POST", "/_matrix/client/unstable/account/3pid/unbind", { token: me.access_token, body: { medium: "email", address: "nobody@example.org" } });
    expect(unbind.status).toBe(200);
    expect(unbind.json.id_server_unbind_result).toBe("success");
    const legacy = await hs.request<J>("POST", "/_matrix/client/v3/account/3pid", {
      token: me.access_token,
      body: { three_pid_creds: { client_secret: "x", sid: "y", id_server: "evil.example.org", id_access_token: "t" } },
    });
    expect(legacy.status).toBe(400);
    expect(legacy.json.errcode).toBe("M_SERVER_NOT_TRUSTED");
    const missing = await hs.request<J>("POST", "/_matrix/client/v3/account/3pid", { token: me.access_token, body: {} });
    expect(missing.json.errcode).toBe("M_BAD_JSON");
  });
});

describe("password reset by email", () => {
  it("resets the password through a validated address and logs out devices", async () => {
    const before = await login(hs, "mailer", "pw");
    const unknown = await hs.request<J>("POST", "/_matrix/client/v3/account/password/email/requestToken", { body: { client_secret: "s4", email: "nobody@example.org", send_attempt: 1 } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.errcode).toBe("M_THREEPID_NOT_FOUND");
    const { sid, mail } = await requestToken("/_matrix/client/v3/account/password/email/requestToken", "mailer@example.org", "secret4");
    await hs.request("POST", "/_matrix/client/v3/account/3pid/email/submit_token", { body: { sid, client_secret: "secret4", token: codeOf(mail) } });
    const c = await hs.request<J>("POST", "/_matrix/client/v3/account/password", { body: { new_password: "reset-pw" } });
    expect(c.status).toBe(401);
    expect(c.json.flows).toEqual([{ stages: ["m.login.email.identity"] }]);
    const ok = await hs.request<J>("POST", "/_matrix/client/v3/account/password", {
      body: { new_password: "reset-pw", auth: { type: "m.login.email.identity", threepid_creds: { sid, client_secret: "secret4" }, session: c.json.session } },
    });
    expect(ok.status).toBe(200);
    expect((await hs.request("GET", "/_matrix/client/v3/account/whoami", { token: before.access_token })).status).toBe(401);
    await login(hs, "mailer", "reset-pw");
  });
});

describe("an address validated for another purpose", () => {
  it("cannot register a second account with an address already in use", async () => {
    const { sid, mail } = await requestToken("/_matrix/client/v3/account/password/email/requestToken", "mailer@example.org", "secret5");
    await hs.request("POST", "/_matrix/client/v3/account/3pid/email/submit_token", { body: { sid, client_secret: "secret5", token: codeOf(mail) } });
    const c = await hs.request<J>("POST", "/_matrix/client/v3/register", { body: { username: "copycat", password: "pw" } });
    const r = await hs.request<J>("POST", "/_matrix/client/v3/register", {
      body: { username: "copycat", password: "pw", auth: { type: "m.login.email.identity", threepid_creds: { sid, client_secret: "secret5" }, session: c.json.session } },
    });
    expect(r.status).toBe(400);
    expect(r.json.errcode).toBe("M_THREEPID_IN_USE");
    const avail = await hs.request<J>("GET", "/_matrix/client/v3/register/available?username=copycat");
    expect(avail.json).toEqual({ available: true });
  });
});

describe("capabilities with email", () => {
  it("announces m.3pid_changes", async () => {
    const me = await login(hs, "mailer", "reset-pw");
    const r = await hs.request<J>("GET", "/_matrix/client/v3/capabilities", { token: me.access_token });
    expect(r.json.capabilities["m.3pid_changes"]).toEqual({ enabled: true });
  });
});
