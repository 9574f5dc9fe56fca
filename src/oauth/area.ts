import path from "node:path";
import type { Router } from "@koa/router";
import type { Config } from "../config/schema.js";
import { Ratelimiter } from "../http/rate-limit.js";
import type { Logger } from "../logging.js";
import { OAuthRepo } from "../storage/oauth-repo.js";
import type { Sql } from "../storage/sql.js";
import type { AccountsArea } from "../users/area.js";
import { systemClock, systemRandom, type Clock, type Random } from "../users/deps.js";
import { accountPageRoutes } from "../client/routes/account-pages.js";
import { oauthPageRoutes } from "../client/routes/oauth-pages.js";
import { OAUTH_PATHS, issuerFor, oauthRoutes } from "../client/routes/oauth.js";
import { AccountManagement } from "./account-management.js";
import { BrowserSessions } from "./browser-sessions.js";
import { OAuthClients } from "./clients.js";
import { OAuthGrants } from "./grants.js";
import { IdTokenSigner } from "./id-token.js";
import { WebContext } from "./web.js";

export interface OAuthAreaOptions {
  config: Config;
  sql: Sql;
  log: Logger;
  accounts: AccountsArea;
  /** The client API's public base URL, without a trailing slash. */
  baseUrl: () => string;
  clock?: Clock;
  random?: Random;
  /** Scale-out: whether this process runs the cluster's background jobs (default: it does). */
  jobs?: { leads(): boolean };
}

const PURGE_INTERVAL_MS = 10 * 60_000;

/**
 * The OAuth 2.0 API, built into the server: the JSON endpoints, the login,
 * consent and device-link pages, and the account page. Its tokens are the
 * accounts area's access and refresh tokens.
 */
export function createOAuthArea(opts: OAuthAreaOptions) {
  const { config, sql, accounts } = opts;
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  const c = config.oauth;
  const repo = new OAuthRepo(sql);
  const baseUrl = () => opts.baseUrl().replace(/\/+$/, "");
  const signer = new IdTokenSigner(path.join(config.data_dir, "oauth-id-token-key.jwk"));
  const grants = new OAuthGrants({
    sql,
    repo,
    tokens: accounts.tokens,
    users: accounts.users,
    sessions: accounts.sessions,
    signer,
    clock,
    random,
    lifetimes: {
      authorizationCodeMs: c.authorization_code_lifetime_ms,
      deviceCodeMs: c.device_code_lifetime_ms,
      deviceIntervalS: c.device_code_interval_s,
      idTokenS: Math.floor(c.id_token_lifetime_ms / 1000),
    },
    issuer: () => issuerFor(baseUrl()),
    verificationUri: () => baseUrl() + OAUTH_PATHS.verification,
  });
  const clients = new OAuthClients({ repo, clock, random });
  const browser = new BrowserSessions({
    repo,
    users: accounts.users,
    accounts: accounts.accounts,
    clock,
    random,
    lifetimeMs: c.browser_session_lifetime_ms,
    loginPerIp: accounts.limiters.loginPerIp,
    loginPerAccount: accounts.limiters.loginPerAccount,
    registrationPerIp: accounts.limiters.registration,
  });
  const account = new AccountManagement({
    accounts: accounts.accounts,
    profiles: accounts.profiles,
    sessions: accounts.sessions,
    users: accounts.users,
    devices: accounts.devices,
    repo,
    browser,
    clock,
  });
  const web = new WebContext({ browser, serverName: config.server_name, baseUrl });
  // Open registration without extra stages is what the page can offer (tokens and email need UIA stages it has not).
  const reg = config.registration;
  const registrationPage = reg.enabled && !reg.require_token && !reg.require_email;

  // A device signed out by any path is no longer an OAuth session.
  accounts.events.on("devicesDeleted", (e) => {
    void (async () => {
      await repo.deleteSessions(e.userId, e.deviceIds);
      await repo.deleteRetiredRefreshTokens(e.userId, e.deviceIds);
    })().catch((err: unknown) => opts.log.error({ err }, "ending the OAuth sessions of deleted devices failed"));
  });
  accounts.events.on("userDeactivated", (e) => browser.endAll(e.userId));

  // Every sign-in registers a client: a generous rule, only against filling the database.
  const clientRegistrationLimiter = new Ratelimiter({
    enabled: config.rate_limits.enabled,
    rule: { perSecond: 1, burst: 30 },
    now: () => clock.now(),
  });

  const onError = (err: unknown) => opts.log.error({ err }, "oauth purge failed");
  const timer = setInterval(() => {
    if (!opts.jobs || opts.jobs.leads()) void repo.purgeExpired(clock.now()).catch(onError);
  }, PURGE_INTERVAL_MS);
  timer.unref();

  const clientRouters: Router[] = c.enabled
    ? [
        oauthRoutes({ grants, clients, signer, baseUrl, registrationPage, clientRegistrationLimiter }),
        oauthPageRoutes({
          web,
          grants,
          account,
          registrationPage,
          createLoginToken: async (userId) => (await accounts.sessions.createLoginToken(userId)).login_token,
        }),
        accountPageRoutes({ web, account }),
      ]
    : [];

  return {
    grants,
    repo,
    clientRouters,
    /**
     * "OAuth authentication" (m.oauth) for POST /keys/device_signing/upload: a
     * device of the OAuth 2.0 API may have the reset approved on the account page.
     */
    crossSigningReset: {
      isOAuthDevice: async (userId: string, deviceId: string | null) =>
        c.enabled && deviceId !== null && (await repo.getSession(userId, deviceId)) !== undefined,
      take: (userId: string) => repo.takeCrossSigningReset(userId, clock.now()),
      stage: () => ({
        flows: [{ stages: ["m.oauth"] }],
        params: { "m.oauth": { url: `${baseUrl()}${OAUTH_PATHS.account}?action=org.matrix.cross_signing_reset` } },
      }),
    },
    close() {
      clearInterval(timer);
    },
  };
}

export type OAuthArea = ReturnType<typeof createOAuthArea>;
