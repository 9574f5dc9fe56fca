import type { Router } from "@koa/router";
import type { Config } from "../config/schema.js";
import { Ratelimiter } from "../http/rate-limit.js";
import type { Logger } from "../logging.js";
import { AccountDataRepo } from "../storage/account-data-repo.js";
import { DevicesRepo } from "../storage/devices-repo.js";
import type { Sql } from "../storage/sql.js";
import { ThreepidRepo } from "../storage/threepid-repo.js";
import { TokensRepo } from "../storage/tokens-repo.js";
import { UiaRepo } from "../storage/uia-repo.js";
import { UserDirectoryRepo } from "../storage/user-directory-repo.js";
import { UsersRepo } from "../storage/users-repo.js";
import { RolesRepo } from "../storage/roles-repo.js";
import { adminRolesRoutes } from "../client/routes/admin-roles.js";
import { accountRoutes } from "../client/routes/account.js";
import { accountDataRoutes } from "../client/routes/account-data.js";
import { moderationRoutes } from "../client/routes/admin-moderation.js";
import { whoisRoutes } from "../client/routes/admin-whois.js";
import { capabilitiesRoutes } from "../client/routes/capabilities.js";
import { deviceRoutes } from "../client/routes/devices.js";
import { filterRoutes } from "../client/routes/filters.js";
import { loginRoutes } from "../client/routes/login.js";
import { openIdRoutes } from "../client/routes/openid.js";
import { profileRoutes } from "../client/routes/profile.js";
import { registerRoutes } from "../client/routes/register.js";
import { synapseAdminRoutes } from "../client/routes/synapse-admin.js";
import { synapseAdminUserRoutes } from "../client/routes/synapse-admin-users.js";
import { threepidRoutes } from "../client/routes/threepid.js";
import { userDirectoryRoutes } from "../client/routes/user-directory.js";
import { openIdUserinfoRoutes } from "../federation/routes/openid-userinfo.js";
import { AccessTokenAuthenticator, type AppServiceTokenResolver } from "./access-tokens.js";
import { AccountDataService } from "./account-data.js";
import { AccountService, type ExclusiveNamespaces } from "./accounts.js";
import { systemClock, systemRandom, type Clock, type Random } from "./deps.js";
import { AccountEvents } from "./events.js";
import { createSmtpMailer } from "./mailer.js";
import { OpenIdService } from "./openid.js";
import { ProfileService } from "./profiles.js";
import { SessionService } from "./sessions.js";
import { installStages, releaseSession } from "./stages.js";
import type { IdentityServers } from "../identity/identity-servers.js";
import { ThreepidService } from "./threepids.js";
import { UiaService } from "./uia.js";

export interface AccountsAreaOptions {
  config: Config;
  sql: Sql;
  log: Logger;
  clock?: Clock;
  random?: Random;
  /** The application-service work: as_token resolution and exclusive namespaces. */
  appServices?: AppServiceTokenResolver;
  exclusive?: ExclusiveNamespaces;
  /** Asks application services about unknown users in their namespaces (profile lookups). */
  queryUnknownUser?: (userId: string) => Promise<boolean>;
  /** The client API's public base URL (for links in mails). */
  clientBaseUrl?: () => string;
  /** Requests to identity servers (3PID binds and unbinds). */
  identity?: IdentityServers;
}

/**
 * Builds the accounts area: repositories, services, the
 * Authenticator every client route uses, and the area's routers. server.ts
 * calls this once; other areas get what they need from the returned object.
 */
export function createAccountsArea(opts: AccountsAreaOptions) {
  const { config, sql, log } = opts;
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? systemRandom;
  const serverName = config.server_name;
  const onError = (err: unknown) => log.error({ err }, "accounts background task failed");

  // --- storage ---
  const users = new UsersRepo(sql);
  const devices = new DevicesRepo(sql);
  const tokens = new TokensRepo(sql);
  const uiaRepo = new UiaRepo(sql);
  const threepids = new ThreepidRepo(sql);
  const accountDataRepo = new AccountDataRepo(sql);
  const roles = new RolesRepo(sql);

  // --- rate limits (each an independent set of buckets; rate_limits.enabled switches all) ---
  const limiter = (r: { per_second: number; burst: number }) =>
    new Ratelimiter({ enabled: config.rate_limits.enabled, rule: { perSecond: r.per_second, burst: r.burst }, now: () => clock.now() });
  const loginPerIp = limiter(config.rate_limits.login_per_ip);
  const loginPerAccount = limiter(config.rate_limits.login_per_account);
  const failedLogins = limiter(config.rate_limits.failed_logins_per_account);
  const registrationLimiter = limiter(config.rate_limits.registration_per_ip);
  // requestToken sends a mail per call: limited like registration, in its own buckets.
  const mailLimiter = limiter(config.rate_limits.registration_per_ip);
  // Username availability and token validity checks: the login rule, their own buckets.
  const checkLimiter = limiter(config.rate_limits.login_per_ip);

  // --- services ---
  const events = new AccountEvents(onError);
  const authenticator = new AccessTokenAuthenticator({
    tokens,
    users,
    devices,
    clock,
    allowQueryParam: config.auth.allow_access_token_query_param,
    appServices: opts.appServices,
    onError,
  });
  const credentialsChanged = (userId: string) => authenticator.invalidateUser(userId);
  const sessions = new SessionService({ sql, users, devices, tokens, clock, random, events, lifetimes: config.auth, credentialsChanged });
  const accounts = new AccountService({
    sql,
    serverName,
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
    credentialsChanged,
  });
  const uia = new UiaService({
    repo: uiaRepo,
    clock,
    random,
    sessionLifetimeMs: config.auth.uia_session_lifetime_ms,
    onExpired: (s) => releaseSession(uiaRepo, s),
  });
  installStages(uia, { accounts, uiaRepo, threepids, clock, recaptcha: config.registration.recaptcha });
  const accountData = new AccountDataService(accountDataRepo, events);
  const profiles = new ProfileService({ serverName, users, events, limits: config.profiles, queryUnknownUser: opts.queryUnknownUser });
  const openid = new OpenIdService({ tokens, clock, random, serverName, lifetimeMs: config.auth.openid_token_lifetime_ms });
  const mailer = createSmtpMailer(config.email, serverName);
  const emailEnabled = mailer !== undefined;
  const threepidService = new ThreepidService({
    repo: threepids,
    mailer,
    clock,
    random,
    serverName,
    clientBaseUrl: opts.clientBaseUrl ?? (() => config.public_baseurl ?? `http://${config.listeners.client.bind}:${config.listeners.client.port}`),
    tokenLifetimeMs: config.email.validation_token_lifetime_ms,
    identity: opts.identity,
  });
  const isAdmin = async (userId: string) => (await users.get(userId))?.is_admin === true;
  const isModerator = (userId: string) => roles.has(userId, "moderator");
  /** Who may use the admin API's moderation endpoints: server admins and moderators. */
  const canModerate = async (userId: string) => (await isAdmin(userId)) || (await isModerator(userId));

  // --- routers ---
  const auth = authenticator;
  const bodyLimit = config.limits.json_body_bytes;
  const clientRouters: Router[] = [
    registerRoutes({
      serverName,
      registration: config.registration,
      oauthOnly: config.auth.oauth_only,
      passwordPolicy: config.password_policy,
      accounts,
      sessions,
      uia,
      uiaRepo,
      auth,
      registrationLimiter,
      checkLimiter,
      bodyLimit,
      clock,
      emailEnabled,
      threepidInUse: async (medium, address) => (await threepids.userFor(medium, address)) !== undefined,
      addThreepid: async (userId, t) => {
        await threepids.add({ userId, medium: t.medium, address: t.address, validatedTs: t.validated_ts, addedTs: clock.now() });
      },
    }),
    loginRoutes({
      serverName,
      accounts,
      sessions,
      uia,
      auth,
      loginPerIp,
      loginPerAccount,
      bodyLimit,
      loginGetTokenEnabled: config.auth.login_get_token_enabled,
      publicBaseUrl: config.well_known.client_base_url ?? config.public_baseurl,
      oauthOnly: config.auth.oauth_only,
      ssoFlow: config.oauth.enabled,
    }),
    deviceRoutes({ auth, devices, sessions, accounts, uia, events, bodyLimit }),
    profileRoutes({ auth, profiles, bodyLimit }),
    accountDataRoutes({ auth, accountData, bodyLimit }),
    filterRoutes({ auth, repo: accountDataRepo, bodyLimit }),
    capabilitiesRoutes({
      auth,
      isAdmin,
      defaultRoomVersion: config.rooms.default_room_version,
      loginGetTokenEnabled: config.auth.login_get_token_enabled,
      threepidChanges: emailEnabled,
    }),
    accountRoutes({
      auth,
      accounts,
      uia,
      passwordPolicy: config.password_policy,
      bodyLimit,
      emailEnabled,
      unbindAll: (userId, idServer) => threepidService.unbindAll(userId, idServer),
    }),
    threepidRoutes({ auth, accounts, uia, threepids: threepidService, bodyLimit, mailLimiter }),
    openIdRoutes({ auth, openid, bodyLimit }),
    userDirectoryRoutes({ auth, directory: new UserDirectoryRepo(sql), searchAllUsers: config.user_directory.search_all_users, bodyLimit }),
    whoisRoutes({ auth, accounts, devices }),
    moderationRoutes({ serverName, auth, users, bodyLimit, credentialsChanged, isModerator }),
    adminRolesRoutes({ serverName, auth, users, roles, bodyLimit }),
    synapseAdminRoutes({ serverName, sharedSecret: config.registration.shared_secret, accounts, sessions, uiaRepo, auth, clock, random, bodyLimit }),
    synapseAdminUserRoutes({ serverName, auth, accounts, users, devices, threepids, sessions, profiles, clock, bodyLimit, credentialsChanged, events,
      unbindAll: (userId) => threepidService.unbindAll(userId),
      accountData: (userId) => accountDataRepo.changedSince(userId, 0),
    }),
  ];
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
    isAdmin,
    canModerate,
    /** Shared with the OAuth login page, so it limits exactly as POST /login does. */
    limiters: { loginPerIp, loginPerAccount, registration: registrationLimiter },
    clientRouters,
    federationRouters,
  };
}

export type AccountsArea = ReturnType<typeof createAccountsArea>;
