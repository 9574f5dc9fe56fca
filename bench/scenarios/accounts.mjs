// Accounts: the cost of registration (UIA + a memory-hard password hash), of
// password logins, and of authenticating a request with an access token.
import { summarize } from "../lib/stats.mjs";
import { jsonClient, ok, pooled, registerUser } from "../lib/users.mjs";

const SCALES = {
  registrations: { tiny: 4, small: 40, medium: 200 },
  logins: { tiny: 4, small: 40, medium: 200 },
  authed: { tiny: 50, small: 2000, medium: 10000 },
};

export const registrationRate = {
  name: "registration_rate",
  description: "POST /register (401 challenge + m.login.dummy), 4 at a time, production scrypt cost",
  async run({ server, scale }) {
    const n = SCALES.registrations[scale];
    const { call, close } = jsonClient(server.baseUrl, 4);
    const samples = [];
    const started = performance.now();
    await pooled(n, 4, async () => {
      const t = performance.now();
      await registerUser(call, "reg");
      samples.push(performance.now() - t);
    });
    const secs = (performance.now() - started) / 1000;
    await close();
    const s = summarize(samples);
    return { figures: { registrations_per_s: Math.round((n / secs) * 10) / 10, p50_ms: s.p50, p95_ms: s.p95 }, n };
  },
};

export const loginRate = {
  name: "login_rate",
  description: "POST /login with m.login.password, 4 at a time (each verifies a scrypt hash)",
  async run({ server, scale }) {
    const n = SCALES.logins[scale];
    const { call, close } = jsonClient(server.baseUrl, 4);
    const user = await registerUser(call, "login");
    const localpart = user.userId.slice(1, user.userId.indexOf(":"));
    const samples = [];
    const started = performance.now();
    await pooled(n, 4, async () => {
      const t = performance.now();
      await ok(call("POST", "/_matrix/client/v3/login", { body: { type: "m.login.password", identifier: { type: "m.id.user", user: localpart }, password: "bench password 1" } }), "login");
      samples.push(performance.now() - t);
    });
    const secs = (performance.now() - started) / 1000;
    await close();
    const s = summarize(samples);
    return { figures: { logins_per_s: Math.round((n / secs) * 10) / 10, p50_ms: s.p50, p95_ms: s.p95 }, n };
  },
};

export const authedLatency = {
  name: "authed_request_latency",
  description: "GET /account/whoami with an access token, sequential (token lookup cost over the HTTP floor)",
  async run({ server, scale }) {
    const n = SCALES.authed[scale];
    const { call, close } = jsonClient(server.baseUrl, 1);
    const user = await registerUser(call, "authed");
    const samples = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await ok(call("GET", "/_matrix/client/v3/account/whoami", { token: user.token }), "whoami");
      samples.push(performance.now() - t);
    }
    await close();
    const s = summarize(samples);
    return { figures: { p50_ms: s.p50, p95_ms: s.p95, p99_ms: s.p99 }, n };
  },
};
