import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../config/load.js";
import { createLogger } from "../logging.js";
import { startServer } from "../server.js";
import { loadRegistrations, parseRegistration, unsafeRegexReason } from "./registration.js";
import { AppServiceRegistry } from "./registry.js";

const base = `
id: irc
url: "http://127.0.0.1:9000/"
as_token: at
hs_token: ht
sender_localpart: _irc_bot
namespaces:
  users: [{ exclusive: true, regex: "@_irc_.*" }]
  aliases: [{ exclusive: false, regex: "#_irc_.*:hs" }]
`;

describe("registration files", () => {
  it("parses a registration with the spec's keys, defaults and older ephemeral names", () => {
    const r = parseRegistration("a.yaml", `${base}\nde.sorunome.msc2409.push_ephemeral: true\nprotocols: [irc]\nx-custom: kept`, "hs");
    expect(r).toMatchObject({
      id: "irc",
      url: "http://127.0.0.1:9000",
      senderUserId: "@_irc_bot:hs",
      rateLimited: true,
      receiveEphemeral: true,
      protocols: ["irc"],
    });
    expect(r.namespaces.users[0]!.exclusive).toBe(true);
    expect(r.namespaces.rooms).toEqual([]);
    expect(parseRegistration("b.yaml", base.replace(/url: .*/, "url: null"), "hs").url).toBeNull();
  });

  it("names the file and the key of what is wrong", () => {
    const bad = (text: string) => {
      try {
        parseRegistration("/etc/bridge.yaml", text, "hs");
      } catch (err) {
        return (err as Error).message;
      }
      return "accepted";
    };
    expect(bad(base.replace(/url: .*\n/, ""))).toMatch(/^\/etc\/bridge\.yaml: url: required/);
    expect(bad(base.replace("as_token: at", "as_token: 5"))).toMatch(/^\/etc\/bridge\.yaml: as_token: /);
    expect(bad(base.replace(/url: .*/, "url: ftp://x"))).toMatch(/^\/etc\/bridge\.yaml: url: /);
    expect(bad(base.replace("sender_localpart: _irc_bot", "sender_localpart: 'No Spaces'"))).toMatch(/sender_localpart: not a valid/);
    expect(bad(base.replace('"@_irc_.*"', '"@_irc_(.*"'))).toMatch(/^\/etc\/bridge\.yaml: namespaces\.users\[0\]\.regex: invalid regex/);
    expect(bad(base.replace('"@_irc_.*"', '"@_irc_(a+)+$"'))).toMatch(/namespaces\.users\[0\]\.regex: .*exponential/);
    expect(bad(base.replace("exclusive: false", "exclusive: maybe"))).toMatch(/namespaces\.aliases\[0\]\.exclusive/);
    expect(bad("- just\n- a list")).toMatch(/must be a YAML mapping/);
    expect(bad("id: [unclosed")).toMatch(/not valid YAML/);
  });

  it("refuses regexes with nested repetition and accepts the usual prefix patterns", () => {
    for (const ok of ["@_irc_.*", "@_irc_[a-z0-9+]+:hs", "#_discord_\\d+", "(@_a_|@_b_).*", "@(foo)?bar.*"]) expect(unsafeRegexReason(ok)).toBeUndefined();
    for (const bad of ["(a+)+", "(.*)*", "@((ab)*)+", "(a|aa)+", "(x{1,3}){2,}"]) expect(unsafeRegexReason(bad)).toBeDefined();
  });

  it("stops on two files with the same id, as_token or sender", () => {
    const files: Record<string, string> = {
      "one.yaml": base,
      "same-id.yaml": base.replace("as_token: at", "as_token: other").replace("_irc_bot", "_other_bot"),
      "same-token.yaml": base.replace("id: irc", "id: other").replace("_irc_bot", "_other_bot"),
      "same-sender.yaml": base.replace("id: irc", "id: other").replace("as_token: at", "as_token: other"),
    };
    const read = (f: string) => files[f]!;
    expect(() => loadRegistrations(["one.yaml", "same-id.yaml"], "hs", read)).toThrow(/^same-id\.yaml: id: "irc" is also the id of one\.yaml/);
    expect(() => loadRegistrations(["one.yaml", "same-token.yaml"], "hs", read)).toThrow(/^same-token\.yaml: as_token: /);
    expect(() => loadRegistrations(["one.yaml", "same-sender.yaml"], "hs", read)).toThrow(/^same-sender\.yaml: sender_localpart: /);
    expect(() => loadRegistrations(["missing.yaml"], "hs", () => { throw new Error("ENOENT"); })).toThrow(/^missing\.yaml: cannot read/);
  });

  it("a bad registration file stops the server's start with the file and key", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "hs-as-bad-"));
    try {
      const file = path.join(dir, "bad.yaml");
      writeFileSync(file, base.replace('"@_irc_.*"', '"[unclosed"'));
      const config = parseConfig({ server_name: "hs", data_dir: dir, app_service_config_files: [file], listeners: { client: { bind: "127.0.0.1", port: 0 } } });
      await expect(startServer(config, { log: createLogger("silent") })).rejects.toThrow(`${file}: namespaces.users[0].regex: invalid regex`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("namespaces", () => {
  const registry = new AppServiceRegistry(loadRegistrations(["a.yaml"], "hs", () => base), "hs");
  const as = registry.get("irc")!;

  it("matches from the start of the id, local users only, the sender always", () => {
    expect(as.isInterestedInUser("@_irc_bob:hs")).toBe(true);
    expect(as.isInterestedInUser("@x_irc_bob:hs")).toBe(false);
    expect(as.isInterestedInUser("@_irc_bob:elsewhere")).toBe(false);
    expect(as.isInterestedInUser("@_irc_bot:hs")).toBe(true);
    expect(as.isInterestedInAlias("#_irc_chan:hs")).toBe(true);
    expect(as.isExclusiveAlias("#_irc_chan:hs")).toBe(false);
    expect(registry.exclusiveOwnerOfUser("@_irc_bob:hs")?.id).toBe("irc");
    expect(registry.exclusiveOwnerOfUser("@bob:hs")).toBeUndefined();
  });

  it("finds the appservice by its as_token only", () => {
    expect(registry.byAsToken("at")?.id).toBe("irc");
    expect(registry.byAsToken("ht")).toBeUndefined();
    expect(registry.byAsToken("a")).toBeUndefined();
  });
});
