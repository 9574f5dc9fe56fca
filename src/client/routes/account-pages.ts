import { Router } from "@koa/router";
import type { Context } from "koa";
import { MatrixError } from "../../http/errors.js";
import type { AccountManagement } from "../../oauth/account-management.js";
import type { BrowserUser } from "../../oauth/browser-sessions.js";
import { accountPage } from "../../oauth/pages.js";
import { loginUrl, redirectTo, sendPage, type WebContext } from "../../oauth/web.js";

export interface AccountPageDeps {
  web: WebContext;
  account: AccountManagement;
}

// Fixed messages after an action: the page shows one of these, never text from the URL.
const NOTICES: Record<string, string> = {
  "signed-out": "The device was signed out.",
  "no-device": "That device was already signed out.",
  password: "Your password was changed.",
  profile: "Your profile was saved.",
  "cross-signing": "Approved: go back to your app and finish resetting your identity within 10 minutes.",
};

// Client-server API "Account management" (OAuth 2.0 API): the page at the
// advertised account_management_uri, with the "Account management URL actions"
// org.matrix.profile, devices_list, device_view, device_delete, account_deactivate
// and cross_signing_reset (the approval page of the m.oauth UIA stage).
export function accountPageRoutes(deps: AccountPageDeps): Router {
  const router = new Router();
  const { web, account } = deps;
  const serverName = web.serverName;

  const render = async (ctx: Context, user: BrowserUser, status: number, extra: { error?: string; notice?: string } = {}) => {
    const action = typeof ctx.query.action === "string" ? ctx.query.action : undefined;
    const deviceId = typeof ctx.query.device_id === "string" ? ctx.query.device_id : undefined;
    const showDevice = action === "org.matrix.device_view" || action === "org.matrix.device_delete";
    const done = typeof ctx.query.done === "string" ? NOTICES[ctx.query.done] : undefined;
    sendPage(
      ctx,
      status,
      accountPage({
        serverName,
        csrf: web.csrf(ctx),
        userId: user.userId,
        displayName: await account.displayName(user.userId),
        devices: await account.listDevices(user.userId),
        notice: extra.notice ?? done,
        error: extra.error,
        focusDeviceId: showDevice ? deviceId : undefined,
        confirmDelete: action === "org.matrix.device_delete",
        confirmDeactivate: action === "org.matrix.account_deactivate",
        crossSigningReset: action === "org.matrix.cross_signing_reset",
      }),
    );
  };

  /** The signed-in user, or undefined after sending the browser to the login page. */
  const requireUser = async (ctx: Context): Promise<BrowserUser | undefined> => {
    const user = await web.user(ctx);
    if (!user) redirectTo(ctx, loginUrl(ctx.method === "GET" ? ctx.url : "/account/"));
    return user;
  };

  router.get(["/account", "/account/"], async (ctx) => {
    const user = await requireUser(ctx);
    if (user) await render(ctx, user, 200);
  });

  router.post("/account/devices/sign-out", async (ctx) => {
    const p = await web.form(ctx);
    if (!p) return;
    const user = await requireUser(ctx);
    if (!user) return;
    const deviceId = p.get("device_id");
    const ok = deviceId !== undefined && (await account.signOutDevice(user.userId, deviceId));
    redirectTo(ctx, `/account/?done=${ok ? "signed-out" : "no-device"}`);
  });

  router.post("/account/sign-out-everywhere", async (ctx) => {
    const p = await web.form(ctx);
    if (!p) return;
    const user = await requireUser(ctx);
    if (!user) return;
    await account.signOutEverywhere(user.userId);
    web.clearSessionCookie(ctx);
    redirectTo(ctx, loginUrl("/account/"));
  });

  router.post("/account/profile", async (ctx) => {
    const p = await web.form(ctx);
    if (!p) return;
    const user = await requireUser(ctx);
    if (!user) return;
    try {
      await account.setDisplayName(user.userId, p.get("displayname") ?? "");
    } catch (err) {
      if (!(err instanceof MatrixError)) throw err;
      return render(ctx, user, err.status, { error: err.message });
    }
    redirectTo(ctx, "/account/?done=profile");
  });

  router.post("/account/cross-signing-reset", async (ctx) => {
    const p = await web.form(ctx);
    if (!p) return;
    const user = await requireUser(ctx);
    if (!user) return;
    await account.approveCrossSigningReset(user.userId);
    redirectTo(ctx, "/account/?done=cross-signing");
  });

  router.post("/account/password", async (ctx) => {
    const p = await web.form(ctx);
    if (!p) return;
    const user = await requireUser(ctx);
    if (!user) return;
    const next = p.get("new_password") ?? "";
    if (next === "") return render(ctx, user, 400, { error: "Enter a new password." });
    if (next !== (p.get("new_password_confirm") ?? "")) return render(ctx, user, 400, { error: "The new passwords do not match." });
    try {
      await account.changePassword(ctx.ip, user.userId, p.get("current_password") ?? "", next, p.get("logout_devices") === "1");
    } catch (err) {
      if (!(err instanceof MatrixError)) throw err;
      return render(ctx, user, err.status, { error: err.status === 429 ? "Too many attempts. Wait a moment and try again." : err.message });
    }
    redirectTo(ctx, "/account/?done=password");
  });

  router.post("/account/deactivate", async (ctx) => {
    const p = await web.form(ctx);
    if (!p) return;
    const user = await requireUser(ctx);
    if (!user) return;
    try {
      await account.deactivate(ctx.ip, user.userId, p.get("password") ?? "", p.get("erase") === "1");
    } catch (err) {
      if (!(err instanceof MatrixError)) throw err;
      return render(ctx, user, err.status, { error: err.status === 429 ? "Too many attempts. Wait a moment and try again." : err.message });
    }
    web.clearSessionCookie(ctx);
    redirectTo(ctx, loginUrl("/account/"));
  });

  return router;
}
