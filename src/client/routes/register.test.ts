import { describe, expect, it } from "vitest";
import { registrationFlows } from "./register.js";

const reg = (o: Partial<{ require_token: boolean; require_email: boolean }>) => ({ enabled: true, allow_guests: false, require_token: false, require_email: false, ...o });

describe("registration flows", () => {
  it("offers dummy alone, or with an optional email flow when mail is configured", () => {
    expect(registrationFlows(reg({}), false)).toEqual([{ stages: ["m.login.dummy"] }]);
    expect(registrationFlows(reg({}), true)).toEqual([{ stages: ["m.login.dummy"] }, { stages: ["m.login.email.identity"] }]);
  });
  it("requires the configured stages in every flow", () => {
    expect(registrationFlows(reg({ require_token: true }), false)).toEqual([{ stages: ["m.login.registration_token"] }]);
    expect(registrationFlows(reg({ require_token: true }), true)).toEqual([
      { stages: ["m.login.registration_token"] },
      { stages: ["m.login.registration_token", "m.login.email.identity"] },
    ]);
    expect(registrationFlows(reg({ require_token: true, require_email: true }), true)).toEqual([
      { stages: ["m.login.registration_token", "m.login.email.identity"] },
    ]);
    const captcha = { ...reg({}), recaptcha: { public_key: "k" } };
    expect(registrationFlows(captcha, true)).toEqual([{ stages: ["m.login.recaptcha"] }, { stages: ["m.login.recaptcha", "m.login.email.identity"] }]);
  });
});
