import { describe, expect, it } from "vitest";
import { html, safeHref } from "./html.js";
import { accountPage, consentPage, loginPage } from "./pages.js";
import { safeThen } from "./web.js";

describe("page rendering", () => {
  const evil = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;

  it("escapes every interpolated value, nested templates stay markup", () => {
    const out = html`<p title="${evil}">${evil}${html`<b>${evil}</b>`}</p>`.value;
    expect(out).not.toContain("<script>");
    expect(out).not.toContain("<img");
    expect(out).toContain("<b>&quot;&gt;&lt;script&gt;");
    expect(out).toContain('title="&quot;&gt;&lt;script&gt;');
  });

  it("never renders client-controlled text as markup on the consent, login and account pages", () => {
    const consent = consentPage({
      serverName: "example.org",
      csrf: "c".repeat(32),
      userId: "@a:example.org",
      client: { name: evil, clientUri: "javascript:alert(1)", tosUri: "https://example.com/tos?x=\"'" },
      deviceId: evil,
      query: `a=1&b=${evil}`,
      redirectHost: evil,
      self: "/oauth2/auth?x",
    });
    const login = loginPage({ serverName: "example.org", csrf: "c", then: evil, username: evil, error: evil });
    const account = accountPage({
      serverName: "example.org",
      csrf: "c",
      userId: evil,
      displayName: evil,
      devices: [{ deviceId: evil, displayName: evil, clientName: evil, lastSeenTs: null, lastSeenIp: evil, createdTs: 0 }],
      focusDeviceId: evil,
      confirmDelete: true,
    });
    for (const page of [consent, login, account]) {
      expect(page).not.toMatch(/<script>|<img /);
      expect(page).toContain("&lt;script&gt;");
    }
    expect(consent).not.toContain("javascript:");
  });

  it("links only http(s) URLs", () => {
    expect(safeHref("javascript:alert(1)")).toBeUndefined();
    expect(safeHref("data:text/html,x")).toBeUndefined();
    expect(safeHref("https://example.com/a")).toBe("https://example.com/a");
  });
});

describe("safeThen", () => {
  it("keeps local page paths and refuses everything else", () => {
    expect(safeThen("/oauth2/auth?client_id=x")).toBe("/oauth2/auth?client_id=x");
    expect(safeThen("/account/?action=org.matrix.devices_list")).toBe("/account/?action=org.matrix.devices_list");
    expect(safeThen("/account")).toBe("/account");
    for (const bad of ["https://evil.org/", "//evil.org/", "/\\evil.org", "/account\t/evil", "/accounting", "/_matrix/client/v3/login", "/oauth2/\n"]) {
      expect(safeThen(bad)).toBe("/account/");
    }
    expect(safeThen(undefined)).toBe("/account/");
  });
});
