import { Router, type RouterContext } from "@koa/router";
import { z } from "zod";
import type { Authenticator } from "../../http/auth.js";
import { readJsonBody } from "../../http/body.js";
import { forbidden, MatrixError, notFound } from "../../http/errors.js";
import { validateBody, validateQuery } from "../../http/validate.js";
import type { DeviceRow, DevicesRepo } from "../../storage/devices-repo.js";
import type { ThreepidRepo } from "../../storage/threepid-repo.js";
import { USER_ORDERS, type UserOrder, type UserRow, type UsersRepo } from "../../storage/users-repo.js";
import type { AccountService } from "../../users/accounts.js";
import type { Clock } from "../../users/deps.js";
import type { ProfileService } from "../../users/profiles.js";
import type { AccountEvents } from "../../users/events.js";
import { checkDeviceDisplayName, type SessionService } from "../../users/sessions.js";

export interface SynapseAdminUsersDeps {
  serverName: string;
  auth: Authenticator;
  accounts: AccountService;
  users: UsersRepo;
  devices: DevicesRepo;
  threepids: ThreepidRepo;
  sessions: SessionService;
  profiles: ProfileService;
  clock: Clock;
  bodyLimit: number;
  /** Undoes the user's identity-server bindings on deactivation; true when all confirmed. */
  unbindAll?: (userId: string) => Promise<boolean>;
  /** All of a user's account data ('' room id: global). */
  accountData?: (userId: string) => Promise<Array<{ room_id: string; type: string; content: Record<string, unknown> }>>;
  /** Device changes reach device lists (e2ee) through these events. */
  events?: AccountEvents;
  /** Drops the authenticator's cached tokens of a user whose lock or deactivation changed. */
  credentialsChanged?: (userId: string) => void;
}

const int = z
  .string()
  .regex(/^\d{1,9}$/, "must be a non-negative integer")
  .transform(Number);
const bool = z.enum(["true", "false"]).transform((v) => v === "true");

const putUserBody = z.looseObject({
  password: z.string().optional(),
  logout_devices: z.boolean().optional(),
  displayname: z.string().nullable().optional(),
  avatar_url: z.string().nullable().optional(),
  admin: z.boolean().optional(),
  deactivated: z.boolean().optional(),
  locked: z.boolean().optional(),
  user_type: z.string().nullable().optional(),
});

function deviceJson(d: DeviceRow) {
  return {
    device_id: d.device_id,
    display_name: d.display_name,
    last_seen_ip: d.last_seen_ip,
    last_seen_ts: d.last_seen_ts,
    last_seen_user_agent: d.last_seen_user_agent,
    user_id: d.user_id,
  };
}

/**
 * User administration on Synapse's admin API paths (v2 users, admin flag,
 * deactivate, reset_password, whois, devices, login-as-user), so existing admin
 * tools and test harnesses work. Server admins only.
 */
export function synapseAdminUserRoutes(deps: SynapseAdminUsersDeps): Router {
  const router = new Router();

  const requireAdmin = async (ctx: RouterContext) => {
    const requester = await deps.auth.authenticate(ctx);
    if (!(await deps.accounts.getUser(requester.userId))?.is_admin) throw forbidden("You are not a server admin");
    return requester;
  };
  const localUser = (ctx: RouterContext): string => {
    const userId = ctx.params.userId!;
    if (!userId.endsWith(`:${deps.serverName}`)) throw new MatrixError(400, "M_INVALID_PARAM", "Only local users can be administered here");
    return userId;
  };
  const existing = async (userId: string): Promise<UserRow> => {
    const u = await deps.users.get(userId);
    if (!u) throw notFound("User not found");
    return u;
  };

  const userInfo = async (u: UserRow) => {
    const profile = await deps.users.getProfile(u.user_id);
    const threepids = await deps.threepids.list(u.user_id);
    return {
      name: u.user_id,
      displayname: profile?.displayname ?? null,
      avatar_url: profile?.avatar_url ?? null,
      threepids: threepids.map((t) => ({ medium: t.medium, address: t.address, added_at: t.added_ts, validated_at: t.validated_ts })),
      is_guest: u.is_guest,
      admin: u.is_admin,
      deactivated: u.deactivated,
      erased: u.erased,
      locked: u.locked,
      shadow_banned: u.shadow_banned === true,
      creation_ts: Math.floor(u.created_ts / 1000),
      appservice_id: u.appservice_id,
      user_type: u.user_type,
      external_ids: [],
    };
  };

  router.get("/_synapse/admin/v2/users", async (ctx) => {
    await requireAdmin(ctx);
    const q = validateQuery(
      z.looseObject({
        from: int.optional(),
        limit: int.optional(),
        name: z.string().optional(),
        user_id: z.string().optional(),
        guests: bool.optional(),
        deactivated: bool.optional(),
        admins: bool.optional(),
        locked: bool.optional(),
        order_by: z.enum(USER_ORDERS as [UserOrder, ...UserOrder[]]).optional(),
        dir: z.enum(["f", "b"]).optional(),
      }),
      ctx.query,
    );
    const from = q.from ?? 0;
    const limit = Math.min(q.limit ?? 100, 1000);
    const { users, total } = await deps.users.list({
      from,
      limit,
      name: q.name ?? q.user_id,
      guests: q.guests ?? true,
      deactivated: q.deactivated ?? false,
      admins: q.admins,
      locked: q.locked ?? false,
      order: q.order_by,
      dir: q.dir,
    });
    const out: Record<string, unknown> = {
      users: users.map((u) => ({
        name: u.user_id,
        is_guest: u.is_guest,
        admin: u.is_admin,
        user_type: u.user_type,
        deactivated: u.deactivated,
        erased: u.erased,
        locked: u.locked,
        shadow_banned: u.shadow_banned === true,
        displayname: u.displayname,
        avatar_url: u.avatar_url,
        creation_ts: Math.floor(u.created_ts / 1000),
      })),
      total,
    };
    if (from + users.length < total) out.next_token = String(from + users.length);
    ctx.body = out;
  });

  router.get("/_synapse/admin/v2/users/:userId", async (ctx) => {
    await requireAdmin(ctx);
    ctx.body = await userInfo(await existing(localUser(ctx)));
  });

  router.put("/_synapse/admin/v2/users/:userId", async (ctx) => {
    const admin = await requireAdmin(ctx);
    const userId = localUser(ctx);
    const body = validateBody(putUserBody, await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    let user = await deps.users.get(userId);
    const created = !user;
    if (!user) {
      const localpart = userId.slice(1, userId.indexOf(":"));
      await deps.accounts.checkUsername(localpart, { allowReserved: true });
      await deps.accounts.createAccount({
        localpart,
        password: body.password ?? null,
        skipPolicy: true,
        isAdmin: body.admin ?? false,
        userType: body.user_type ?? null,
        displayname: body.displayname,
      });
      user = (await deps.users.get(userId))!;
    } else {
      if (body.admin !== undefined && userId === admin.userId && !body.admin) throw new MatrixError(400, "M_UNKNOWN", "You may not demote yourself");
      if (body.deactivated === true && !user.deactivated) {
        await deps.unbindAll?.(userId);
        await deps.accounts.deactivate(userId, false);
      }
      if (body.deactivated === false && user.deactivated) {
        if (body.password === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "A password is needed to reactivate a user");
        await deps.users.reactivate(userId);
        deps.credentialsChanged?.(userId);
      }
      if (body.password !== undefined) {
        await deps.accounts.changePassword(userId, body.password, { logoutDevices: body.logout_devices ?? true, keepDeviceId: null, skipPolicy: true });
      }
      if (body.admin !== undefined) await deps.users.setAdmin(userId, body.admin);
      if (body.user_type !== undefined) await deps.users.setUserType(userId, body.user_type);
    }
    if (body.locked !== undefined) {
      await deps.users.setLocked(userId, body.locked);
      deps.credentialsChanged?.(userId);
    }
    const self = { userId, isGuest: false };
    if (!created && body.displayname !== undefined) await deps.profiles.setField(self, userId, "displayname", { displayname: body.displayname });
    if (body.avatar_url !== undefined) await deps.profiles.setField(self, userId, "avatar_url", { avatar_url: body.avatar_url });
    ctx.status = created ? 201 : 200;
    ctx.body = await userInfo((await deps.users.get(userId))!);
  });

  router.get("/_synapse/admin/v1/users/:userId/admin", async (ctx) => {
    await requireAdmin(ctx);
    ctx.body = { admin: (await existing(localUser(ctx))).is_admin };
  });

  router.put("/_synapse/admin/v1/users/:userId/admin", async (ctx) => {
    const admin = await requireAdmin(ctx);
    const userId = localUser(ctx);
    const body = validateBody(z.object({ admin: z.boolean() }), await readJsonBody(ctx, deps.bodyLimit));
    await existing(userId);
    if (userId === admin.userId && !body.admin) throw new MatrixError(400, "M_UNKNOWN", "You may not demote yourself");
    await deps.users.setAdmin(userId, body.admin);
    ctx.body = {};
  });

  router.post("/_synapse/admin/v1/deactivate/:userId", async (ctx) => {
    await requireAdmin(ctx);
    const userId = localUser(ctx);
    const body = validateBody(z.looseObject({ erase: z.boolean().optional() }), await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }));
    await existing(userId);
    const unbound = deps.unbindAll ? await deps.unbindAll(userId) : true;
    await deps.accounts.deactivate(userId, body.erase ?? false);
    ctx.body = { id_server_unbind_result: unbound ? "success" : "no-support" };
  });

  router.post("/_synapse/admin/v1/reset_password/:userId", async (ctx) => {
    await requireAdmin(ctx);
    const userId = localUser(ctx);
    const body = validateBody(z.looseObject({ new_password: z.string(), logout_devices: z.boolean().optional() }), await readJsonBody(ctx, deps.bodyLimit));
    const u = await existing(userId);
    if (u.deactivated) throw new MatrixError(400, "M_UNKNOWN", "The user is deactivated");
    await deps.accounts.changePassword(userId, body.new_password, { logoutDevices: body.logout_devices ?? true, keepDeviceId: null, skipPolicy: true });
    ctx.body = {};
  });

  // Synapse's own suspension path (Draupnir, Meowlnir); the spec's is /_matrix/client/v1/admin/suspend.
  router.put("/_synapse/admin/v1/suspend/:userId", async (ctx) => {
    await requireAdmin(ctx);
    const userId = localUser(ctx);
    const body = validateBody(z.looseObject({ suspend: z.boolean() }), await readJsonBody(ctx, deps.bodyLimit));
    const u = await existing(userId);
    if (u.deactivated) throw new MatrixError(400, "M_UNKNOWN", "The user is deactivated");
    await deps.users.setSuspended(userId, body.suspend);
    deps.credentialsChanged?.(userId);
    ctx.body = { [`user_${userId}_suspended`]: body.suspend };
  });

  router.get("/_synapse/admin/v1/users/:userId/accountdata", async (ctx) => {
    await requireAdmin(ctx);
    const userId = localUser(ctx);
    await existing(userId);
    const global: Record<string, unknown> = {};
    const rooms: Record<string, Record<string, unknown>> = {};
    for (const a of (await deps.accountData?.(userId)) ?? []) {
      if (a.room_id === "") global[a.type] = a.content;
      else (rooms[a.room_id] ??= {})[a.type] = a.content;
    }
    ctx.body = { account_data: { global, rooms } };
  });

  router.get("/_synapse/admin/v1/whois/:userId", async (ctx) => {
    await requireAdmin(ctx);
    const userId = ctx.params.userId!;
    await existing(userId);
    const devices: Record<string, unknown> = {};
    for (const d of await deps.devices.list(userId)) {
      const connections = d.last_seen_ts !== null ? [{ ip: d.last_seen_ip, last_seen: d.last_seen_ts, user_agent: d.last_seen_user_agent }] : [];
      devices[d.device_id] = { sessions: [{ connections }] };
    }
    ctx.body = { user_id: userId, devices };
  });

  router.get("/_synapse/admin/v2/users/:userId/devices", async (ctx) => {
    await requireAdmin(ctx);
    const userId = localUser(ctx);
    await existing(userId);
    const devices = (await deps.devices.list(userId)).map(deviceJson);
    ctx.body = { devices, total: devices.length };
  });

  router.post("/_synapse/admin/v2/users/:userId/devices", async (ctx) => {
    await requireAdmin(ctx);
    const userId = localUser(ctx);
    const body = validateBody(z.looseObject({ device_id: z.string().min(1) }), await readJsonBody(ctx, deps.bodyLimit));
    await existing(userId);
    await deps.sessions.createDevice(userId, body.device_id, null);
    ctx.status = 201;
    ctx.body = {};
  });

  router.post("/_synapse/admin/v2/users/:userId/delete_devices", async (ctx) => {
    await requireAdmin(ctx);
    const userId = localUser(ctx);
    const body = validateBody(z.looseObject({ devices: z.array(z.string()).max(10_000) }), await readJsonBody(ctx, deps.bodyLimit));
    await existing(userId);
    await deps.sessions.deleteDevices(userId, body.devices);
    ctx.body = {};
  });

  router.get("/_synapse/admin/v2/users/:userId/devices/:deviceId", async (ctx) => {
    await requireAdmin(ctx);
    const userId = localUser(ctx);
    await existing(userId);
    const d = await deps.devices.get(userId, ctx.params.deviceId!);
    if (!d) throw notFound("Device not found");
    ctx.body = deviceJson(d);
  });

  router.put("/_synapse/admin/v2/users/:userId/devices/:deviceId", async (ctx) => {
    await requireAdmin(ctx);
    const userId = localUser(ctx);
    const body = validateBody(
      z.looseObject({ display_name: z.string().nullable().optional() }),
      await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }),
    );
    checkDeviceDisplayName(body.display_name);
    await existing(userId);
    if (!(await deps.devices.get(userId, ctx.params.deviceId!))) throw notFound("Device not found");
    if (body.display_name !== undefined) {
      await deps.devices.setDisplayName(userId, ctx.params.deviceId!, body.display_name);
      await deps.events?.emit("deviceUpdated", { userId, deviceId: ctx.params.deviceId! });
    }
    ctx.body = {};
  });

  router.delete("/_synapse/admin/v2/users/:userId/devices/:deviceId", async (ctx) => {
    await requireAdmin(ctx);
    const userId = localUser(ctx);
    await deps.sessions.deleteDevices(userId, [ctx.params.deviceId!]);
    ctx.body = {};
  });

  router.post("/_synapse/admin/v1/users/:userId/login", async (ctx) => {
    const admin = await requireAdmin(ctx);
    const userId = localUser(ctx);
    const body = validateBody(
      z.looseObject({ valid_until_ms: z.number().int().positive().optional() }),
      await readJsonBody(ctx, deps.bodyLimit, { emptyAsObject: true }),
    );
    const u = await existing(userId);
    if (u.deactivated) throw new MatrixError(400, "M_UNKNOWN", "The user is deactivated");
    if (userId === admin.userId) throw new MatrixError(400, "M_UNKNOWN", "Cannot use admin API to login as self");
    ctx.body = { access_token: await deps.sessions.createDevicelessToken(userId, body.valid_until_ms ?? null) };
  });

  return router;
}
