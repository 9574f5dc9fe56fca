import type { Router } from "@koa/router";
import type { Config } from "../config/schema.js";
import { Ratelimiter, type RateLimitRule } from "../http/rate-limit.js";
import type { Logger } from "../logging.js";
import { DevicesRepo } from "../storage/devices-repo.js";
import type { Sql } from "../storage/sql.js";
import { ThreepidRepo } from "../storage/threepid-repo.js";
import { TokensRepo } from "../storage/tokens-repo.js";
import { UiaRepo } from "../storage/uia-repo.js";
import { UsersRepo } from "../storage/users-repo.js";
import { UserDirectoryRepo } from "../storage/user-directory-repo.js";
import { loginRoutes } from "../client/routes/login.js";
import { registerRoutes } from "../client/routes/register.js";
import { accountRoutes } from "../client/routes/account.js";
import { accountDataRoutes } from "../client/routes/account-data.js";
import { whoisRoutes } from "../client/routes/admin-whois.js";
import { capabilitiesRoutes } from "../client/routes/capabilities.js";
import { deviceRoutes } from "../client/routes/devices.js";
import { filterRoutes } from "../client/routes/filters.js";
import { profileRoutes } from "../client/routes/profile.js";
import { synapseAdminRoutes } from "../client/routes/synapse-admin.js";
import { synapseAdminUserRoutes } from "../client/routes/synapse-admin-users.js";
import { moderationRoutes } from "../client/routes/admin-moderation.js";
import { openIdRoutes } from "../client/routes/openid.js";
import { userDirectoryRoutes } from "../client/routes/user-directory.js";
import { openIdUserinfoRoutes } from "../federation/routes/openid-userinfo.js";
import { OpenIdService } from "./openid.js";
import { threepidRoutes } from "../client/routes/threepid.js";
import { createSmtpMailer } from "./mailer.js";
import { ThreepidService } from "./threepids.js";
import { AccountDataRepo } from "../storage/account-data-repo.js";
import { AccountDataService } from "./account-data.js";
import { ProfileService } from "./profiles.js";
import { AccessTokenAuthenticator, type AppServiceTokenResolver } from "./access-tokens.js";
import { AccountService, type ExclusiveNamespaces } from "./accounts.js";
import { systemClock, systemRandom, type Clock, type Random } from "./deps.js";
import { AccountEvents } from "./events.js";
import { SessionService } from "./sessions.js";
import { installStages, releaseSession } from "./stages.js";
import { UiaService } from "./uia.js";

export interface AccountsAreaOptions {
  config: Config;
  sql: Sql;
  log: Logger;
  clock?: Clock;
  random?: Random;
  appServices?: AppServiceTokenResolver;
  exclusive?: ExclusiveNamespaces;
  /** The client API's public base URL (for links in mails). */
  clientBaseUrl?: () => string;
  /** Outbound fetch for identity servers (tests inject a fake). */
  fetch?: typeof fetch;
}

function rule(r: { per_second: number; burst: number }): RateLimitRule {
  return { perSecond: r.per_second, burst: r.burst };
}

/**
 * Builds the accounts area (issue 4): repositories, services, the
 * Authenticator every client route uses, and the area's routers. server.ts
 * calls this once; other areas get what they need from the returned object.
 */
export function createAccountsArea(opts: AccountsAreaOptions) {
  const { config, sql, log } = opts;
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  const onError = (err: unknown) => log.error({ err }, "accounts background task failed");

  const users = new UsersRepo(sql);
  const devices = new DevicesRepo(sql);
  const tokens = new TokensRepo(sql);
  const uiaRepo = new UiaRepo(sql);
  const threepids = new ThreepidRepo(sql);
  const events = new AccountEvents(onError);
  const accountDataRepo = new AccountDataRepo(sql);
  const accountData = new AccountDataService(accountDataRepo, events);
  const profiles = new ProfileService({ serverName: config.server_name, users, events, limits: config.profiles });

  const enabled = config.rate_limits.enabled;
  const limiter = (r: { per_second: number; burst: number }) => new Ratelimiter({ enabled, rule: rule(r), now: () => clock.now() });
  const loginPerIp = limiter(config.rate_limits.login_per_ip);
  const loginPerAccount = limiter(config.rate_limits.login_per_account);
  const failedLogins = limiter(config.rate_limits.failed_logins_per_account);
  const registrationLimiter = limiter(config.rate_limits.registration_per_ip);

  const authenticator = new AccessTokenAuthenticator({
    tokens,
    users,
    devices,
    clock,
    allowQueryParam: config.auth.allow_access_token_query_param,
    appServices: opts.appServices,
    onError,
  });
  const sessions = new SessionService({ sql, devices, tokens, clock, random, events, lifetimes: config.auth });
  const accounts = new AccountService({
    sql,
    serverName: config.server_name,
    users,
    tokens,
    threepids,
    sessions,
    clock,
    random,
    events,
    passwordPolicy: config.password_policy,
    scryptCost: config.password_policy.scrypt_cost,
    reservedLocalparts: config.registration.reserved_localparts,
    exclusive: opts.exclusive,
    failedLogins,
  });
  const uia = new UiaService({
    repo: uiaRepo,
    clock,
    random,
    sessionLifetimeMs: config.auth.uia_session_lifetime_ms,
    onExpired: (s) => releaseSession(uiaRepo, s),
  });
  installStages(uia, { accounts, uiaRepo, threepids, clock });

  const bodyLimit = config.limits.json_body_bytes;
  const emailEnabled = config.email.smtp_host !== undefined;
  const clientRouters: Router[] = [
    registerRoutes({
      serverName: config.server_name,
      registration: config.registration,
      passwordPolicy: config.password_policy,
      accounts,
      sessions,
      uia,
      uiaRepo,
      auth: authenticator,
      registrationLimiter,
      bodyLimit,
      clock,
      emailEnabled,
      threepidInUse: async (medium, address) => (await threepids.userFor(medium, address)) !== undefined,
      addThreepid: async (userId, t) => {
        await threepids.add({ userId, medium: t.medium, address: t.address, validatedTs: t.validated_ts, addedTs: clock.now() });
      },
    }),
    loginRoutes({
      serverName: config.server_name,
      accounts,
      sessions,
      uia,
      auth: authenticator,
      loginPerIp,
      loginPerAccount,
      bodyLimit,
      loginGetTokenEnabled: config.auth.login_get_token_enabled,
    }),
  ];
  clientRouters.push(
    deviceRoutes({ auth: authenticator, devices, sessions, accounts, uia, events, bodyLimit }),
    profileRoutes({ auth: authenticator, profiles, bodyLimit }),
    accountDataRoutes({ auth: authenticator, accountData, bodyLimit }),
    filterRoutes({ auth: authenticator, repo: accountDataRepo, bodyLimit }),
    capabilitiesRoutes({
      auth: authenticator,
      isAdmin: async (userId) => (await users.get(userId))?.is_admin === true,
      defaultRoomVersion: config.rooms.default_room_version,
      loginGetTokenEnabled: config.auth.login_get_token_enabled,
      threepidChanges: emailEnabled,
    }),
    accountRoutes({
      auth: authenticator,
      accounts,
      uia,
      passwordPolicy: config.password_policy,
      bodyLimit,
      emailEnabled,
      unbindAll: (userId) => threepidService.unbindAll(userId),
    }),
    whoisRoutes({ auth: authenticator, accounts, devices }),
    synapseAdminRoutes({
      serverName: config.server_name,
      sharedSecret: config.registration.shared_secret,
      accounts,
      sessions,
      uiaRepo,
      auth: authenticator,
      clock,
      random,
      bodyLimit,
    }),
  );
  const openid = new OpenIdService({ tokens, clock, random, serverName: config.server_name, lifetimeMs: config.auth.openid_token_lifetime_ms });
  clientRouters.push(openIdRoutes({ auth: authenticator, openid, bodyLimit }), userDirectoryRoutes({
      auth: authenticator,
      directory: new UserDirectoryRepo(sql),
      searchAllUsers: config.user_directory.search_all_users,
      bodyLimit,
    }));
  const threepidService = new ThreepidService({
    repo: threepids,
    mailer: createSmtpMailer(config.email, config.server_name),
    clock,
    random,
    serverName: config.server_name,
    clientBaseUrl: opts.clientBaseUrl ?? (() => config.public_baseurl ?? `http://${config.listeners.client.bind}:${config.listeners.client.port}`),
    tokenLifetimeMs: config.email.validation_token_lifetime_ms,
    trustedIdServers: config.identity_server.trusted_servers,
    fetch: opts.fetch,
  });
  // Mail is sent per request: limit it per IP like registration, in its own buckets.
  const mailLimiter = limiter(config.rate_limits.registration_per_ip);
  clientRouters.push(threepidRoutes({ auth: authenticator, accounts, uia, threepids: threepidService, bodyLimit, mailLimiter }));
  clientRouters.push(
    synapseAdminUserRoutes({
      serverName: config.server_name,
      auth: authenticator,
      accounts,
      users,
      devices,
      threepids,
      sessions,
      profiles,
      clock,
      bodyLimit,
    }),
    moderationRoutes({ serverName: config.server_name, auth: authenticator, users, bodyLimit }),
  );
  const federationRouters: Router[] = [openIdUserinfoRoutes({ openid })];

  return {
    authenticator,
    accounts,
    sessions,
    uia,
    events,
    profiles,
    accountData,
    accountDataRepo,
    users,
    devices,
    tokens,
    openid,
    threepids: threepidService,
    clientRouters,
    federationRouters,
  };
}

export type AccountsArea = ReturnType<typeof createAccountsArea>;
