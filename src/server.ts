import { mkdirSync, readFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { rootCertificates } from "node:tls";
import { IdentityServers } from "./identity/identity-servers.js";
import { IpPolicy } from "./media/ip-ranges.js";
import type Koa from "koa";
import type { Config } from "./config/schema.js";
import { createHttpApp } from "./http/app.js";
import { healthRoutes } from "./client/routes/health.js";
import { versionsRoutes } from "./client/routes/versions.js";
import { wellKnownRoutes } from "./client/routes/well-known.js";
import { federationVersionRoutes } from "./federation/routes/version.js";
import { loadOrCreateSigningKey, type SigningKey } from "./keys/signing-key.js";
import { lockDataDir } from "./lifecycle/data-dir-lock.js";
import { listen, stopListening } from "./lifecycle/listen.js";
import { createLogger, flushLog, type Logger } from "./logging.js";
import { migrate } from "./storage/migrate.js";
import { openDatabase } from "./storage/open.js";
import { checkServerName } from "./storage/server-meta.js";
import type { Sql } from "./storage/sql.js";
import type { Authenticator } from "./http/auth.js";
import { createAccountsArea } from "./users/area.js";
import { createMediaArea } from "./media/area.js";
import { createE2ee } from "./e2ee/index.js";
import { keysRoutes } from "./client/routes/keys.js";
import { toDeviceRoutes } from "./client/routes/to-device.js";
import { roomKeysRoutes } from "./client/routes/room-keys.js";
import { dehydratedDeviceRoutes } from "./client/routes/dehydrated-device.js";
import { requireReauth } from "./users/reauth.js";
import { Notifier } from "./sync/notifier.js";
import { SyncRepo } from "./storage/sync-repo.js";
import { createSyncArea } from "./sync/area.js";
import type { RoomWriter } from "./rooms/event-writer.js";
import { createRoomsModule, defaultRandomString } from "./rooms/module.js";
import type { FederatedMembership } from "./rooms/membership.js";
import { ignoredUsersFromAccountData } from "./rooms/ignored-users.js";
import { createRoomRoutes } from "./client/routes/create-room.js";
import { roomSendRoutes } from "./client/routes/rooms-send.js";
import { delayedEventsRoutes } from "./client/routes/delayed-events.js";
import { voipRoutes } from "./client/routes/voip.js";
import { DelayedEvents } from "./rooms/delayed-events.js";
import { DelayedEventsRepo } from "./storage/delayed-events-repo.js";
import { membershipRoutes } from "./client/routes/membership.js";
import { messagesRoutes } from "./client/routes/messages.js";
import { directoryRoutes } from "./client/routes/directory.js";
import { relationsRoutes } from "./client/routes/relations.js";
import { roomUpgradeRoutes } from "./client/routes/room-upgrade.js";
import { searchRoutes } from "./client/routes/search.js";
import { reportRoutes } from "./client/routes/reports.js";
import { thirdPartyOnBindRoutes } from "./federation/routes/third-party-onbind.js";
import { createPushArea, createPushIndexer } from "./push/area.js";
import { isJsonObject } from "./core/json.js";
import { createAdminArea, type AdminArea } from "./admin/area.js";
import { Metrics, metricsServer } from "./admin/metrics.js";
import type { JsonObject } from "./core/index.js";
import { createOAuthArea } from "./oauth/area.js";
import { createAppServiceCore, startAppServiceDelivery } from "./appservice/area.js";
import { DeliveryService } from "./delivery/index.js";
import { MatrixError } from "./http/errors.js";
import { createFederationArea, type FederationArea } from "./federation/area.js";
import { federationMediaRoutes } from "./federation/routes/media.js";
import type { FederationOutbound } from "./federation/outbound.js";
import { Cluster, federationEdusAcross, SINGLE_PROCESS_JOBS } from "./cluster/index.js";

export interface RunningServer {
  config: Config;
  log: Logger;
  sql: Sql;
  signingKey: SigningKey;
  /** Actual ports (useful when the config asked for port 0). */
  clientPort: number;
  federationPort: number | undefined;
  clientUrl: string;
  federationUrl: string | undefined;
  /** The Prometheus listener's port, when `metrics.enabled`. */
  metricsPort: number | undefined;
  /**
   * The room input for PDUs built by other servers (what the federation
   * receive path calls; tests inject signed PDUs through it).
   */
  roomInput: Pick<RoomWriter, "persist">;
  /** Outbound signed requests and other servers' keys. */
  federation: Pick<FederationArea, "client" | "keys" | "outbound">;
  /** Stops listening, drains in-flight requests, closes the database. Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  log?: Logger;
  /**
   * Where EDUs about local users are handed (typing, receipts, presence,
   * to-device, device lists) instead of the server's own federation sender
   * (tests that watch them). PDUs always go through the server's own sender.
   */
  federationOutbound?: FederationOutbound;
}

function hostForUrl(bind: string): string {
  if (bind === "0.0.0.0") return "127.0.0.1";
  if (bind === "::") return "[::1]";
  return bind.includes(":") ? `[${bind}]` : bind;
}

function serverFor(app: Koa, tls?: { certificate: string; key: string }): http.Server {
  const handler = app.callback();
  if (!tls) return http.createServer(handler);
  return https.createServer({ cert: readFileSync(tls.certificate), key: readFileSync(tls.key) }, handler);
}

/**
 * The only place that wires things together: config -> database -> services ->
 * HTTP apps. Everything below receives what it needs through its constructor.
 */
export async function startServer(config: Config, opts: StartOptions = {}): Promise<RunningServer> {
  const log = opts.log ?? createLogger(config.logging.level);
  if (config.instance_name !== undefined && !config.database.url) throw new Error("instance_name (scale-out) needs database.url: the embedded database serves one process");
  mkdirSync(config.data_dir, { recursive: true });
  const releaseLock = lockDataDir(config.data_dir, config.instance_name);
  const cleanup: Array<() => Promise<void> | void> = [releaseLock];
  const undo = async () => {
    for (const fn of cleanup.reverse()) await fn();
  };

  try {
    // Application services: registration files are checked before anything starts, so a bad file stops start-up.
    // (accountsArea is declared below; these are only called once requests arrive.)
    const appServices = createAppServiceCore({
      config,
      log,
      userState: async (userId) => {
        const u = await accountsArea.users.get(userId);
        return !u ? "missing" : u.deactivated ? "deactivated" : "active";
      },
      deviceExists: async (userId, deviceId) => (await accountsArea.devices.get(userId, deviceId)) !== undefined,
    });
    cleanup.push(() => appServices.client.close());
    const signingKey = loadOrCreateSigningKey(config.signing_key_path ?? `${config.data_dir}/signing.key`);
    // Wakes waiting /sync requests; every stream announces its positions here.
    const notifier = new Notifier();
    // Prometheus metrics (off by default): every statement is timed through the wrapped handle.
    const metrics = config.metrics.enabled
      ? new Metrics({
          syncWaiters: () => notifier.waitingCount,
          notifierWakeups: () => notifier.wakeupCount,
          poolSize: config.database.url ? config.database.pool_size : 1,
          // (rooms and adminArea are built below; scrapes only start once the metrics listener is up.)
          deliveryLag: () => adminArea.repo.deliveryLag(rooms.positions.persistedUpTo),
        })
      : undefined;
    const rawSql = await openDatabase(config.database, config.data_dir, config.instance_name);
    cleanup.push(() => rawSql.close());
    const sql = metrics ? metrics.instrumentSql(rawSql) : rawSql;
    const migrated = await migrate(sql);
    if (migrated.applied.length) log.info({ applied: migrated.applied }, "applied database migrations");
    await checkServerName(sql, config.server_name);
    // Scale-out: one of several processes on this database (docs/scale-out.md).
    let cluster: Cluster | undefined;
    if (config.instance_name !== undefined) {
      cluster = await Cluster.join(sql, config.instance_name, log);
      cleanup.push(() => cluster?.close());
    }
    const jobs = cluster?.jobs ?? SINGLE_PROCESS_JOBS;

    // Identity servers (3PID binds, unbinds, third-party invites), behind the SSRF guard.
    const identityServers = new IdentityServers({
      serverName: config.server_name,
      signingKey,
      trusted: config.identity_server.trusted_servers,
      policy: new IpPolicy({ allow: config.identity_server.allow_ip_ranges, deny: config.identity_server.deny_ip_ranges }),
      timeoutMs: config.identity_server.timeout_ms,
    });
    cleanup.push(() => identityServers.close());
    // Accounts: `authenticator` is what every authenticated client route uses.
    // (clientBaseUrl is declared below; it is only called once requests arrive.)
    const accountsArea = createAccountsArea({
      config,
      sql,
      log,
      identity: identityServers,
      clientBaseUrl: () => clientBaseUrl(),
      appServices: appServices.auth,
      exclusive: appServices.auth,
      queryUnknownUser: (userId) => appServices.queries.queryUser(userId),
      // (federation is built below; this is only called once requests arrive.)
      remoteProfile: (userId) => federation.profiles.profile(userId),
    });
    accountsArea.events.on("userDeactivated", (e) => appServices.auth.invalidateUser(e.userId));
    const authenticator: Authenticator = accountsArea.authenticator;
    // OAuth 2.0 API: server metadata, grants, login/consent pages, the account page.
    const oauthArea = createOAuthArea({ config, sql, log, accounts: accountsArea, baseUrl: () => clientBaseUrl(), jobs });
    cleanup.push(() => oauthArea.close());

    // Media repository: /_matrix/media, /_matrix/client/v1/media, media admin API.
    const mediaArea = createMediaArea({
      jobs,
      config,
      sql,
      log,
      auth: authenticator,
      isServerAdmin: async (userId) => (await accountsArea.accounts.getUser(userId))?.is_admin === true,
      // Other servers' media, fetched with signed federation requests (federation is built below).
      origins: (origin, path, o) => federation.client.raw(origin, "GET", path, undefined, o),
      redirectTls: {
        rejectUnauthorized: config.federation.verify_tls,
        ...(config.federation.ca_file ? { ca: [...rootCertificates, readFileSync(config.federation.ca_file, "utf8")] } : {}),
      },
    });
    cleanup.push(() => mediaArea.close());

    // End-to-end encryption: keys, cross-signing, key backup, to-device.
    const e2eeAudienceRepo = new SyncRepo(sql);
    const e2ee = await createE2ee({
      sql,
      serverName: config.server_name,
      notifier,
      clock: { now: () => Date.now() },
      // Device-list changes reach everyone who shares a room with the user.
      audience: { usersSharingRoomWith: (userId) => e2eeAudienceRepo.usersSharingRoomWith(userId) },
      devices: {
        listDevices: async (userId) =>
          (await accountsArea.devices.list(userId)).map((d) => ({ deviceId: d.device_id, displayName: d.display_name })),
      },
      // Dehydrated devices (MSC3814) are devices without a token: created here,
      // deleted through the accounts area so its devicesDeleted event cleans up.
      provisioner: {
        createDevice: async (userId, deviceId, displayName) => {
          await accountsArea.devices.upsert({ userId, deviceId, displayName, createdTs: Date.now() });
          await accountsArea.events.emit("deviceCreated", { userId, deviceId });
        },
        deleteDevices: async (userId, deviceIds) => {
          await accountsArea.sessions.deleteDevices(userId, deviceIds);
        },
      },
      reauth: {
        requireAuth: async (req) => {
          // "OAuth authentication" (m.oauth): a device of the OAuth 2.0 API may have the
          // reset approved on the account page instead of entering the password.
          const reset = oauthArea.crossSigningReset;
          const oauthDevice = await reset.isOAuthDevice(req.userId, req.deviceId);
          if (oauthDevice && (await reset.take(req.userId))) return;
          const session = await requireReauth(accountsArea.uia, accountsArea.accounts, req, oauthDevice ? reset.stage() : undefined);
          await accountsArea.uia.finish(session.session_id);
        },
      },
    });
    accountsArea.events.on("deviceCreated", (e) => e2ee.onDeviceChanged(e.userId));
    accountsArea.events.on("deviceUpdated", (e) => e2ee.onDeviceChanged(e.userId));
    accountsArea.events.on("devicesDeleted", (e) => e2ee.onDevicesDeleted(e.userId, e.deviceIds));
    const e2eeBodyLimit = config.limits.json_body_bytes;

    // Push verdicts and unread counters are written in each event's transaction.
    const pushIndex = createPushIndexer({ sql, serverName: config.server_name });

    // Rooms: the only writer of room events; persisted events wake /sync by position.
    let federatedMembership = (): FederatedMembership => {
      throw new MatrixError(503, "M_UNKNOWN", "Federation is starting");
    };
    const rooms = await createRoomsModule({
      clusterPositions: cluster ? (publish, invalidate) => cluster.eventPositions(publish, invalidate) : undefined,
      indexers: [pushIndex.indexer],
      sql,
      serverName: config.server_name,
      signingKey,
      defaultRoomVersion: config.rooms.default_room_version,
      profiles: {
        getProfile: async (userId) => {
          // A remote user's server that cannot answer leaves the member event without a name, not the membership undone.
          const p = await accountsArea.profiles.getProfile(userId).catch(() => undefined);
          const str = (v: unknown) => (typeof v === "string" ? v : undefined);
          return { displayname: str(p?.displayname), avatar_url: str(p?.avatar_url) };
        },
      },
      ignoredUsers: ignoredUsersFromAccountData((userId) => accountsArea.accountDataRepo.get(userId, null, "m.ignored_user_list")),
      userExists: (userId) => accountsArea.users.exists(userId),
      // (adminArea is built below, once rooms exist; this is only called once requests arrive.)
      isRoomBlocked: (roomId) => adminArea.isRoomBlocked(roomId),
      remotePublicRooms: (server, q) =>
        federation.publicRooms.list(server, {
          limit: q.limit,
          since: q.since,
          filter: q.filter,
          includeAllNetworks: q.includeAllNetworks,
          thirdPartyInstanceId: q.thirdPartyInstanceId,
        }),
      remoteAlias: (server, alias) => federation.aliases.resolve(server, alias),
      // (federation is built below; these are only called once requests arrive.)
      federated: {
        resolveAlias: (alias) => federatedMembership().resolveAlias(alias),
        join: (userId, roomId, servers, content) => federatedMembership().join(userId, roomId, servers, content),
        knock: (userId, roomId, servers, content) => federatedMembership().knock(userId, roomId, servers, content),
        leave: (userId, roomId, servers, content) => federatedMembership().leave(userId, roomId, servers, content),
        invite: (sender, roomId, target, content) => federatedMembership().invite(sender, roomId, target, content),
        exchangeThirdPartyInvite: (roomId, event) => federatedMembership().exchangeThirdPartyInvite(roomId, event),
      },
      isGuest: async (userId) => (await accountsArea.users.get(userId))?.is_guest === true,
      identityServers,
      appServiceAliases: appServices.aliases,
      accountData: {
        get: (userId, roomId, type) => accountsArea.accountDataRepo.get(userId, roomId, type),
        put: async (userId, roomId, type, content) => {
          await accountsArea.accountData.putInternal(userId, roomId, type, content);
        },
      },
    });
    accountsArea.events.on("profileChanged", (e) =>
      rooms.membership.updateProfile(e.userId, { displayname: e.displayname, avatar_url: e.avatarUrl }),
    );
    accountsArea.events.on("userDeactivated", (e) => rooms.membership.leaveAll(e.userId));
    if (metrics) rooms.bus.onPersisted((n) => n.remote || metrics.eventPersisted(n.type));
    rooms.bus.onPersisted((n) =>
      notifier.notify("events", n.streamOrdering, { roomIds: [n.roomId], userIds: n.membership && n.stateKey ? [n.stateKey] : [] }),
    );
    // Delayed events (MSC4140): sent as their user once the delay passes; timers re-armed from the table at start.
    const delayedEvents = new DelayedEvents({
      repo: new DelayedEventsRepo(sql),
      config: {
        enabled: config.delayed_events.enabled,
        maxDelayMs: config.delayed_events.max_delay_ms,
        maxPerUser: config.delayed_events.max_per_user,
      },
      sendMessage: (sender, roomId, type, content, txnId) => rooms.messaging.sendMessage(sender, roomId, type, content, txnId),
      sendState: (sender, roomId, type, stateKey, content) => rooms.messaging.sendState(sender, roomId, type, stateKey, content),
      isJoined: async (userId, roomId) => (await rooms.repos.state.membership(roomId, userId))?.membership === "join",
      log,
    });
    cleanup.push(() => delayedEvents.close());
    const roomRouters = [
      createRoomRoutes({ auth: authenticator, creation: rooms.creation, bodyLimit: config.limits.json_body_bytes }),
      roomSendRoutes({
        auth: authenticator,
        messaging: rooms.messaging,
        isShadowBanned: (userId) => adminArea.isShadowBanned(userId),
        checkMessageRate: (userId) => adminArea.checkMessageRate(userId),
        delayed: config.delayed_events.enabled ? delayedEvents : undefined,
      }),
      delayedEventsRoutes({ auth: authenticator, delayed: delayedEvents }),
      voipRoutes({
        auth: authenticator,
        config: {
          turnUris: config.voip.turn_uris,
          turnSharedSecret: config.voip.turn_shared_secret,
          turnUsername: config.voip.turn_username,
          turnPassword: config.voip.turn_password,
          turnUserLifetimeMs: config.voip.turn_user_lifetime,
          turnAllowGuests: config.voip.turn_allow_guests,
          rtcFoci: config.voip.rtc_foci,
        },
      }),
      membershipRoutes({
        auth: authenticator,
        membership: rooms.membership,
        thirdPartyInvites: rooms.thirdPartyInvites,
        bodyLimit: config.limits.json_body_bytes,
        isShadowBanned: (userId) => adminArea.isShadowBanned(userId),
      }),
      messagesRoutes({ auth: authenticator, reader: rooms.reader }),
      directoryRoutes({ auth: authenticator, directory: rooms.directory, bodyLimit: config.limits.json_body_bytes }),
      relationsRoutes({ auth: authenticator, relations: rooms.relations }),
      roomUpgradeRoutes({
        auth: authenticator,
        upgrade: rooms.upgrade,
        summaries: rooms.summaries,
        hierarchy: rooms.hierarchy,
        bodyLimit: config.limits.json_body_bytes,
      }),
      searchRoutes({ auth: authenticator, search: rooms.search, bodyLimit: config.limits.json_body_bytes }),
      reportRoutes({
        auth: authenticator,
        reports: rooms.reports,
        bodyLimit: config.limits.json_body_bytes,
      }),
    ];

    // Push rules and pushers: every change is written as the user's m.push_rules account data.
    // Outbound delivery (appservices now; push gateways and federation share it):
    // a durable position per destination, re-read from the room-event stream.
    const delivery = new DeliveryService({
      sql,
      upTo: () => rooms.positions.persistedUpTo,
      onStreamAdvance: (listener) => rooms.bus.onPersisted(() => listener()),
      // In a cluster, a destination whose sender process died is taken over this soon.
      options: cluster ? { leaseRetryMs: 2_000 } : undefined,
      onError: (err, info) => {
        // 1st, 2nd, 4th, 8th... failure in a row: enough to see, not a flood.
        if ((info.failures & (info.failures - 1)) === 0) log.warn({ err, ...info }, "outbound delivery failed; retrying with backoff");
      },
    });
    cleanup.push(() => delivery.close());

    // HTTP pushers deliver to push gateways from durable positions (src/delivery).
    const pushArea = await createPushArea({
      sql,
      auth: authenticator,
      accountData: { putGlobal: async (userId, type, content) => void (await accountsArea.accountData.putInternal(userId, null, type, content)) },
      bodyLimit: config.limits.json_body_bytes,
      config: config.push,
      actions: pushIndex.actions,
      delivery,
      upTo: () => rooms.positions.persistedUpTo,
      onEventSender: (fn) => rooms.bus.onPersisted((n) => fn(n.sender)),
      getEvent: async (eventId) => {
        const e = await rooms.store.getEvent(eventId);
        if (!e) return undefined;
        return { type: e.row.type, sender: e.row.sender, stateKey: e.row.stateKey ?? undefined, content: isJsonObject(e.pdu.content) ? e.pdu.content : {}, redacted: e.row.redactedBy !== null };
      },
      formatEvents: async (ids, viewer) => {
        const loaded = [...(await rooms.store.getEvents(ids)).values()].filter((e) => e.row.redactedBy === null);
        const formatted = await rooms.formatter.format(loaded, viewer);
        return new Map(formatted.map((f, i) => [loaded[i]!.row.eventId, f]));
      },
      onError: (err) => log.warn({ err: err instanceof Error ? err.message : String(err) }, "pusher bookkeeping failed"),
    });
    cleanup.push(() => pushArea.close());
    accountsArea.events.on("userDeactivated", (e) => pushArea.pushers.deleteAll(e.userId));
    rooms.formatter.setErasure({ erasedAmong: (ids) => accountsArea.users.erasedAmong(ids) });
    accountsArea.events.on("devicesDeleted", (e) => pushArea.pushers.deleteForDevices(e.userId, e.deviceIds));

    // Sync and ephemeral streams: GET /sync, typing, receipts, read markers, presence.
    const syncArea = await createSyncArea({
      config,
      sql,
      auth: authenticator,
      notifier,
      rooms,
      accountDataRepo: accountsArea.accountDataRepo,
      setRoomAccountData: async (userId, roomId, type, content) => {
        await accountsArea.accountData.putInternal(userId, roomId, type, content);
      },
      onAccountDataChanged: (fn) => accountsArea.events.on("accountDataChanged", fn),
      e2ee: { toDevice: e2ee.toDevice, deviceLists: e2ee.deviceLists, deviceKeys: e2ee.deviceKeys },
      pushRules: pushArea.pushRules,
      notificationCounts: pushArea.notificationCounts,
      onReceipt: pushArea.onReceipt,
    });
    cleanup.push(() => syncArea.close());
    if (cluster) {
      // Other processes' stream positions, typing and token revocations.
      const relay = cluster.relayStreams(notifier);
      relay.onRemotePosition("to_device", (p) => e2ee.toDevice.observeCommitted(p));
      relay.onRemotePosition("device_lists", (p) => e2ee.deviceLists.observeCommitted(p));
      relay.follow("receipts", () => syncArea.receipts.currentPosition());
      relay.follow("presence", () => syncArea.presence.currentPosition());
      relay.follow("account_data", () => accountsArea.accountDataRepo.currentPosition());
      relay.follow("to_device", () => e2ee.toDevice.storedPosition(), () => e2ee.toDevice.currentPosition());
      relay.follow("device_lists", () => e2ee.deviceLists.storedPosition(), () => e2ee.deviceLists.currentPosition());
      cleanup.push(() => relay.close());
      await cluster.shareTyping(syncArea.typing);
      cluster.shareTokenInvalidation(accountsArea.authenticator, (userId) => appServices.auth.invalidateUser(userId));
    }
    accountsArea.events.on("devicesDeleted", (e) => {
      syncArea.sliding.forgetDevices(e.userId, e.deviceIds).catch((err) => log.warn({ err: String(err) }, "dropping sliding sync connections failed"));
    });

    const appServiceArea = await startAppServiceDelivery({
      core: appServices,
      sql,
      log,
      auth: authenticator,
      delivery,
      notifier,
      store: rooms.store,
      formatter: rooms.formatter,
      typing: syncArea.typing,
      receipts: syncArea.receipts,
      presence: syncArea.presence,
      toDevice: config.app_services.to_device ? e2ee.toDevice : undefined,
      bodyLimit: config.limits.json_body_bytes,
      ensureSender: async (localpart, appServiceId) => {
        if (await accountsArea.users.exists(accountsArea.accounts.userIdFor(localpart))) return;
        try {
          await accountsArea.accounts.createAccount({ localpart, password: null, appServiceId });
        } catch (err) {
          if (!(err instanceof MatrixError && err.errcode === "M_USER_IN_USE")) throw err;
        }
      },
    });
    cleanup.push(() => appServiceArea.close());
    // Federation: server keys, signed requests, received transactions into the room input.
    const federation = createFederationArea({
      config,
      sql,
      log,
      signingKey,
      roomInput: rooms.writer,
      roomVersion: (roomId) => rooms.store.roomVersion(roomId),
      // EDUs in and out, /user/devices and /user/keys: typing, receipts and presence of the sync area, keys and to-device of e2ee.
      edus: {
        typing: syncArea.typing,
        receipts: syncArea.receipts,
        presence: syncArea.presence,
        toDevice: e2ee.toDevice,
        deviceKeys: e2ee.deviceKeys,
        deviceLists: e2ee.deviceLists,
        isJoined: async (userId, roomId) => (await rooms.repos.state.membership(roomId, userId))?.membership === "join",
        usersSharingRoomWith: (userId) => syncArea.audience.usersSharingRoomWith(userId),
      },
      outbound: opts.federationOutbound,
      serving: {
        store: rooms.store,
        events: rooms.repos.events,
        state: rooms.repos.state,
        directory: rooms.directory,
        summaries: rooms.summaries,
        hierarchy: rooms.hierarchy,
        persistedUpTo: () => rooms.positions.persistedUpTo,
        profile: (userId) => accountsArea.profiles.getProfile(userId),
        erasedAmong: (ids) => accountsArea.users.erasedAmong(ids),
      },
      sending: {
        delivery,
        store: rooms.store,
        upTo: () => rooms.positions.persistedUpTo,
        onPersisted: (listener) => rooms.bus.onPersisted(listener),
        shared: cluster ? federationEdusAcross(cluster) : undefined,
      },
      rooms: {
        writer: rooms.writer,
        templates: rooms.templates,
        store: rooms.store,
        state: rooms.repos.state,
        events: rooms.repos.events,
        userExists: (userId) => accountsArea.users.exists(userId),
        isRoomBlocked: (roomId) => adminArea.isRoomBlocked(roomId),
        randomString: defaultRandomString,
        strippedStateOf: (eventId) => rooms.outOfBand.strippedState(eventId),
      },
    });
    cleanup.push(() => federation.close());
    rooms.reader.backfiller = (roomId, depth, limit) => federation.backfiller.backfill(roomId, depth, limit);
    const flows = federation.membership!;
    federatedMembership = () => flows.federated;
    // Other servers' users' keys for /keys/query and /keys/claim; local users' EDUs out to other servers.
    if (federation.remoteKeys) e2ee.deviceKeys.setRemote(federation.remoteKeys);
    const eduSender = federation.eduSender;
    if (eduSender) {
      syncArea.typing.onChange((roomId, userId, typing) => eduSender.typingChanged(roomId, userId, typing));
      syncArea.receipts.onPublicReceipt((r) => eduSender.receiptStored(r));
      syncArea.presence.onPublished((userId, content) => eduSender.presenceChanged(userId, content));
      e2ee.deviceLists.onChanged((userId, o) => {
        if (!o.selfOnly) eduSender.deviceListChanged(userId);
      });
      e2ee.toDevice.setRemote((sender, type, messageId, byServer) => eduSender.toDevice(sender, type, messageId, byServer));
    }

    // Administration: Synapse's room/server admin API, server notices, erasure, audit log.
    const adminArea: AdminArea = createAdminArea({
      jobs,
      onEventsPurged: cluster ? (ids) => cluster.eventsInvalidated(ids) : undefined,
      config,
      sql,
      log,
      auth: authenticator,
      rooms,
      isAdmin: async (userId) => (await accountsArea.users.get(userId))?.is_admin === true,
      canModerate: (userId) => accountsArea.canModerate(userId),
      userExists: (userId) => accountsArea.users.exists(userId),
      userActive: async (userId) => {
        const u = await accountsArea.users.get(userId);
        return u !== undefined && !u.deactivated;
      },
      createSystemUser: async (localpart, displayname) => {
        if (await accountsArea.users.exists(`@${localpart}:${config.server_name}`)) return;
        await accountsArea.accounts.createAccount({ localpart, password: null, skipPolicy: true, isAdmin: false, displayname }).catch((err: unknown) => {
          if (!(err instanceof Error && "errcode" in err && err.errcode === "M_USER_IN_USE")) throw err;
        });
      },
      setRoomAccountData: async (userId, roomId, type, content) => {
        await accountsArea.accountData.putInternal(userId, roomId, type, content);
      },
      getRoomAccountData: async (userId, roomId, type) => (await accountsArea.accountDataRepo.get(userId, roomId, type)) as JsonObject | undefined,
      pushers: (userId) => pushArea.pushers.list(userId),
      sources: {
        profile: async (userId) => {
          const p = await accountsArea.users.getProfile(userId);
          return p ? ({ displayname: p.displayname, avatar_url: p.avatar_url, ...p.fields } as JsonObject) : undefined;
        },
        devices: async (userId) =>
          (await accountsArea.devices.list(userId)).map((d) => ({
            device_id: d.device_id,
            display_name: d.display_name,
            last_seen_ts: d.last_seen_ts,
            last_seen_ip: d.last_seen_ip,
            last_seen_user_agent: d.last_seen_user_agent,
          })),
        accountData: async (userId) =>
          (await accountsArea.accountDataRepo.changedSince(userId, 0)).map((a) => ({ room_id: a.room_id === "" ? null : a.room_id, type: a.type, content: a.content as JsonObject })),
        media: async (userId) => {
          const out: JsonObject[] = [];
          for (let from = 0; ; ) {
            const { rows, total } = await mediaArea.service.listUserMedia(userId, from, 500);
            for (const m of rows) out.push(JSON.parse(JSON.stringify(m)) as JsonObject);
            from += rows.length;
            if (rows.length === 0 || from >= total) return out;
          }
        },
        deleteMedia: async (userId) => {
          let deleted = 0;
          for (;;) {
            const { rows } = await mediaArea.service.listUserMedia(userId, 0, 500);
            if (rows.length === 0) return deleted;
            for (const m of rows) deleted += (await mediaArea.service.delete(config.server_name, m.media_id)).length;
          }
        },
      },
    });
    accountsArea.events.on("userDeactivated", (e) => adminArea.onDeactivated(e.userId, e.erase));
    adminArea.deletion.resumeUnfinished();
    cleanup.push(() => adminArea.close());

    const clientListener = config.listeners.client;
    let clientPort = clientListener.port;
    const clientBaseUrl = () =>
      config.well_known.client_base_url ?? config.public_baseurl ?? `http://${hostForUrl(clientListener.bind)}:${clientPort}`;

    const clientApp = createHttpApp({
      name: "client",
      log,
      routers: [
        // Delayed events (MSC4140) as configured.
        versionsRoutes({ "org.matrix.msc4140": config.delayed_events.enabled }),
        wellKnownRoutes({ clientBaseUrl, server: config.well_known.server, rtcFoci: config.voip.rtc_foci }),
        healthRoutes(),
        ...accountsArea.clientRouters,
        ...mediaArea.clientRouters,
        keysRoutes({ auth: authenticator, e2ee, bodyLimit: e2eeBodyLimit, keyChanges: (u, f, t) => syncArea.sync.keyChanges(u, f, t) }),
        toDeviceRoutes({ auth: authenticator, toDevice: e2ee.toDevice, bodyLimit: e2eeBodyLimit }),
        roomKeysRoutes({ auth: authenticator, keyBackup: e2ee.keyBackup, bodyLimit: e2eeBodyLimit }),
        dehydratedDeviceRoutes({ auth: authenticator, dehydrated: e2ee.dehydrated, bodyLimit: e2eeBodyLimit }),
        ...roomRouters,
        ...syncArea.clientRouters,
        ...pushArea.clientRouters,
        ...adminArea.clientRouters,
        ...oauthArea.clientRouters,
        ...appServiceArea.clientRouters,
      ],
      middleware: [...(metrics ? [metrics.httpMiddleware("client")] : []), adminArea.auditMiddleware],
      trustedProxies: config.trusted_proxies,
    });
    const clientServer = serverFor(clientApp);
    clientPort = await listen(clientServer, clientListener.bind, clientListener.port);
    cleanup.push(() => stopListening(clientServer, config.shutdown_grace_ms));
    await delayedEvents.start();

    let federationPort: number | undefined;
    let federationUrl: string | undefined;
    const fed = config.listeners.federation;
    if (fed) {
      const fedApp = createHttpApp({
        name: "federation",
        log,
        routers: [
          federationVersionRoutes(),
          thirdPartyOnBindRoutes({ thirdPartyInvites: rooms.thirdPartyInvites, bodyLimit: config.limits.json_body_bytes }),
          wellKnownRoutes({ clientBaseUrl, server: config.well_known.server, rtcFoci: config.voip.rtc_foci }),
          healthRoutes(),
          ...accountsArea.federationRouters,
          ...federation.routers,
          federationMediaRoutes({ auth: federation.auth, media: mediaArea.service }),
        ],
        middleware: metrics ? [metrics.httpMiddleware("federation")] : [],
        trustedProxies: config.trusted_proxies,
      });
      const fedServer = serverFor(fedApp, fed.tls);
      federationPort = await listen(fedServer, fed.bind, fed.port);
      federationUrl = `${fed.tls ? "https" : "http"}://${hostForUrl(fed.bind)}:${federationPort}`;
      cleanup.push(() => stopListening(fedServer, config.shutdown_grace_ms));
      // Other servers can now fetch our keys: transactions to them may start.
      await federation.startSending();
    }

    let metricsPort: number | undefined;
    if (metrics) {
      const ms = metricsServer(metrics);
      metricsPort = await listen(ms, config.metrics.bind, config.metrics.port);
      cleanup.push(() => stopListening(ms, 0));
    }

    const clientUrl = `http://${hostForUrl(clientListener.bind)}:${clientPort}`;
    log.info(
      { server_name: config.server_name, client: clientUrl, federation: federationUrl, database: sql.engine },
      "homeserver ready",
    );
    // Launchers wait for this line: it must not sit in the log's batch buffer.
    flushLog(log);

    let closing: Promise<void> | undefined;
    return {
      config,
      log,
      sql,
      signingKey,
      clientPort,
      federationPort,
      clientUrl,
      federationUrl,
      metricsPort,
      roomInput: { persist: (roomId, pdu, opts) => rooms.writer.persist(roomId, pdu, opts) },
      federation,
      close() {
        closing ??= (async () => {
          log.info("shutting down");
          // Listeners stop first (reverse order of start-up), then the database, then the lock.
          await undo();
          log.info("shut down cleanly");
        })();
        return closing;
      },
    };
  } catch (err) {
    await undo();
    throw err;
  }
}
