import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { J } from "./accounts-helpers.js";
import type { TestServer } from "./harness.js";
import { startConformanceServer } from "./sync-helpers.js";

// "Google ReCaptcha" (m.login.recaptcha) as a registration stage, checked at the
// configured verification endpoint (a stand-in on loopback here).
let hs: TestServer;
let verifier: http.Server;
const posted: URLSearchParams[] = [];
const register = (body: J) => hs.request<J>("POST", "/_matrix/client/v3/register", { body });

beforeAll(async () => {
  verifier = http.createServer((req, res) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => {
      const form = new URLSearchParams(data);
      posted.push(form);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ success: form.get("secret") === "private" && form.get("response") === "sytest_captcha_response" }));
    });
  });
  await new Promise<void>((r) => verifier.listen(0, "127.0.0.1", r));
  const port = (verifier.address() as AddressInfo).port;
  hs = await startConformanceServer({
    registration: { enabled: true, recaptcha: { public_key: "public", private_key: "private", verify_url: `http://127.0.0.1:${port}/verify` } },
  });
}, 60_000);
afterAll(async () => {
  await hs?.close();
  await new Promise<void>((r) => verifier.close(() => r()));
});

describe("m.login.recaptcha", () => {
  it("is in every registration flow, with the site key in params, and checked at verify_url", async () => {
    const first = await register({ username: "captcha", password: "sUp3rs3kr1t" });
    expect(first.status).toBe(401);
    expect(first.json.flows).toEqual([{ stages: ["m.login.recaptcha"] }]);
    expect(first.json.params).toEqual({ "m.login.recaptcha": { public_key: "public" } });
    const session = first.json.session as string;

    const wrong = await register({ username: "captcha", password: "sUp3rs3kr1t", auth: { session, type: "m.login.recaptcha", response: "a robot" } });
    expect([wrong.status, wrong.json.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    expect(wrong.json.completed ?? []).toEqual([]);
    expect(posted.at(-1)?.get("secret")).toBe("private");

    // A flow without the captcha is not enough.
    const dummy = await register({ username: "captcha", password: "sUp3rs3kr1t", auth: { session, type: "m.login.dummy" } });
    expect(dummy.status).toBe(401);

    const ok = await register({
      username: "captcha",
      password: "sUp3rs3kr1t",
      auth: { session, type: "m.login.recaptcha", response: "sytest_captcha_response" },
    });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    expect(ok.json.user_id).toBe("@captcha:localhost");
  });
});
