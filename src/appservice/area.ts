import type { Router } from "@koa/router";
import { appServiceRoutes } from "../client/routes/appservice.js";
import type { Config } from "../config/schema.js";
import type { DeliveryService } from "../delivery/index.js";
import type { Authenticator } from "../http/auth.js";
import type { Logger } from "../logging.js";
import type { EventStore } from "../rooms/event-store.js";
import type { EventFormatter } from "../rooms/client-format.js";
import { AppServiceRepo } from "../storage/appservice-repo.js";
import type { Sql } from "../storage/sql.js";
import type { Notifier } from "../sync/notifier.js";
import { AsClient } from "./as-client.js";
import { AppServiceAuth } from "./auth.js";
import { AppServiceQueries } from "./queries.js";
import { loadRegistrations } from "./registration.js";
import { AppServiceRegistry } from "./registry.js";
import { APPSERVICE_KIND, AppServiceTransactions, type TransactionsDeps } from "./transactions.js";

/**
 * The application-service area, in two steps because the accounts and rooms
 * areas need its answers when they are built: `createAppServiceCore` (from
 * config alone: registrations, token resolution, namespaces, queries) and
 * `startAppServiceDelivery` (transactions, once rooms and sync exist).
 */
export function createAppServiceCore(d: {
  config: Config;
  log: Logger;
  userState(userId: string): Promise<"active" | "missing" | "deactivated">;
  deviceExists(userId: string, deviceId: string): Promise<boolean>;
}) {
  const registry = new AppServiceRegistry(loadRegistrations(d.config.app_service_config_files, d.config.server_name), d.config.server_name);
  const client = new AsClient({ timeoutMs: d.config.app_services.request_timeout_ms, maxResponseBytes: d.config.app_services.max_response_bytes });
  const auth = new AppServiceAuth({ registry, userState: d.userState, deviceExists: d.deviceExists });
  let onReachable: (id: string) => void = () => undefined;
  const queries = new AppServiceQueries({
    registry,
    client,
    onReachable: (id) => onReachable(id),
    onError: (err, appServiceId) => d.log.warn({ err, appservice: appServiceId }, "application service request failed"),
  });
  return {
    registry,
    client,
    auth,
    queries,
    /** For the rooms area: aliases held by appservices. */
    aliases: {
      query: (alias: string) => queries.queryAlias(alias),
      reservedFor: (alias: string, userId: string) => registry.aliasForbiddenFor(alias, userId),
    },
    deliveryOptions: { minBackoffMs: d.config.app_services.retry_min_ms, maxBackoffMs: d.config.app_services.retry_max_ms },
    setOnReachable(fn: (id: string) => void) {
      onReachable = fn;
    },
  };
}

export type AppServiceCore = ReturnType<typeof createAppServiceCore>;

export interface AppServiceDeliveryDeps {
  core: AppServiceCore;
  sql: Sql;
  log: Logger;
  auth: Authenticator;
  delivery: DeliveryService;
  notifier: Notifier;
  store: EventStore;
  formatter: EventFormatter;
  typing: { readonly currentPosition: number; allChangesSince(since: number): Map<string, { user_ids: string[] }> };
  receipts: { currentPosition(): Promise<number> };
  presence?: TransactionsDeps["presence"];
  toDevice?: TransactionsDeps["toDevice"];
  /** Creates the appservice's sender user when it does not exist yet. */
  ensureSender(localpart: string, appServiceId: string): Promise<void>;
  bodyLimit: number;
}

export async function startAppServiceDelivery(d: AppServiceDeliveryDeps): Promise<{ clientRouters: Router[]; close(): Promise<void> }> {
  const { core, delivery } = d;
  for (const as of core.registry.all) await d.ensureSender(as.reg.senderLocalpart, as.id);
  delivery.addKind(
    new AppServiceTransactions({
      registry: core.registry,
      repo: new AppServiceRepo(d.sql),
      client: core.client,
      getEvents: (ids) => d.store.getEvents(ids),
      format: (list) => d.formatter.format(list, undefined),
      typing: d.typing,
      receipts: d.receipts,
      presence: d.presence,
      toDevice: d.toDevice,
    }),
    core.deliveryOptions,
  );
  const withEphemeral = core.registry.all.filter((a) => a.reg.receiveEphemeral);
  const untap = withEphemeral.length
    ? d.notifier.tap((stream) => {
        if (stream === "typing" || stream === "receipts" || stream === "presence" || stream === "to_device") for (const a of withEphemeral) delivery.wake(APPSERVICE_KIND, a.id);
      })
    : () => undefined;
  core.setOnReachable((id) => delivery.retryNow(APPSERVICE_KIND, id));
  for (const as of core.registry.all) if (as.reg.url !== null) delivery.start(APPSERVICE_KIND, as.id);
  if (core.registry.all.length) d.log.info({ appservices: core.registry.all.map((a) => a.id) }, "application services registered");
  return {
    clientRouters: [appServiceRoutes({ auth: d.auth, queries: core.queries, bodyLimit: d.bodyLimit })],
    async close() {
      untap();
      for (const as of core.registry.all) await delivery.stop(APPSERVICE_KIND, as.id);
      await core.client.close();
    },
  };
}
