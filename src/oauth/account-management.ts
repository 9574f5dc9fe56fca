import { MatrixError } from "../http/errors.js";
import type { DevicesRepo } from "../storage/devices-repo.js";
import type { OAuthRepo } from "../storage/oauth-repo.js";
import type { UsersRepo } from "../storage/users-repo.js";
import type { AccountService } from "../users/accounts.js";
import type { Clock } from "../users/deps.js";
import type { ProfileService } from "../users/profiles.js";
import type { SessionService } from "../users/sessions.js";
import type { BrowserSessions } from "./browser-sessions.js";
import type { DeviceView } from "./pages.js";

/** How long an approved cross-signing reset stays approved. */
export const CROSS_SIGNING_RESET_WINDOW_MS = 10 * 60_000;

export interface AccountManagementDeps {
  accounts: AccountService;
  profiles: ProfileService;
  sessions: SessionService;
  users: UsersRepo;
  devices: DevicesRepo;
  repo: OAuthRepo;
  browser: BrowserSessions;
  clock: Clock;
}

/**
 * What the web pages do to an account ("Account management" of the OAuth 2.0
 * API): sign-in checks, registration, the device list, signing devices out,
 * password changes and deactivation, all through the accounts services.
 */
export class AccountManagement {
  constructor(private readonly deps: AccountManagementDeps) {}

  checkPassword(ip: string, username: string, password: string): Promise<string> {
    return this.deps.browser.checkCredentials(ip, username, password);
  }

  /** A new account from the registration page (the same username and password rules as `POST /register`). */
  async register(ip: string, username: string, password: string): Promise<string> {
    this.deps.browser.checkRegistrationRate(ip);
    const localpart = username.trim().replace(/^@/, "").replace(/:.*$/, "");
    await this.deps.accounts.checkUsername(localpart);
    return this.deps.accounts.createAccount({ localpart, password });
  }

  checkUserCodeRate(ip: string): void {
    this.deps.browser.checkUserCodeRate(ip);
  }

  /** Why the user may not grant access right now (locked or deactivated), or undefined. */
  async blockedReason(userId: string): Promise<string | undefined> {
    const user = await this.deps.users.get(userId);
    if (!user || user.deactivated) return "This account has been deactivated.";
    if (user.locked) return "This account has been locked.";
    return undefined;
  }

  async listDevices(userId: string): Promise<DeviceView[]> {
    const [devices, sessions] = await Promise.all([this.deps.devices.list(userId), this.deps.repo.listSessions(userId)]);
    const clients = new Map((await this.deps.repo.getClients([...new Set(sessions.map((s) => s.client_id))])).map((c) => [c.client_id, c.metadata]));
    const clientOf = new Map(sessions.map((s) => [s.device_id, s.client_id]));
    return devices
      .map((d) => {
        const meta = clients.get(clientOf.get(d.device_id) ?? "");
        const clientName = meta ? (typeof meta.client_name === "string" ? meta.client_name : String(meta.client_uri)) : undefined;
        return {
          deviceId: d.device_id,
          displayName: d.display_name,
          clientName,
          lastSeenTs: d.last_seen_ts,
          lastSeenIp: d.last_seen_ip,
          createdTs: d.created_ts,
        };
      })
      .sort((a, b) => (b.lastSeenTs ?? b.createdTs) - (a.lastSeenTs ?? a.createdTs));
  }

  async displayName(userId: string): Promise<string | null> {
    return (await this.deps.users.getProfile(userId))?.displayname ?? null;
  }

  /** Sets the display name through the profile service (its limits; the change reaches rooms as with PUT /profile). */
  async setDisplayName(userId: string, name: string): Promise<void> {
    await this.deps.profiles.setField({ userId, isGuest: false }, userId, "displayname", { displayname: name.trim() === "" ? null : name.trim() });
  }

  /** "OAuth authentication": the next cross-signing reset in the next 10 minutes needs no other authentication. */
  async approveCrossSigningReset(userId: string): Promise<void> {
    await this.deps.repo.approveCrossSigningReset(userId, this.deps.clock.now() + CROSS_SIGNING_RESET_WINDOW_MS);
  }

  async signOutDevice(userId: string, deviceId: string): Promise<boolean> {
    return (await this.deps.sessions.deleteDevices(userId, [deviceId])).length > 0;
  }

  /** Every device and every browser session of the user ends. */
  async signOutEverywhere(userId: string): Promise<void> {
    await this.deps.sessions.logoutOthers(userId, null, undefined);
    await this.deps.browser.endAll(userId);
  }

  /** Changes the password after checking the current one (M_FORBIDDEN, M_WEAK_PASSWORD, 429 otherwise). */
  async changePassword(ip: string, userId: string, current: string, next: string, logoutDevices: boolean): Promise<void> {
    await this.checkOwnPassword(ip, userId, current);
    await this.deps.accounts.changePassword(userId, next, { logoutDevices, keepDeviceId: null });
  }

  async deactivate(ip: string, userId: string, password: string, erase: boolean): Promise<void> {
    await this.checkOwnPassword(ip, userId, password);
    await this.deps.accounts.deactivate(userId, erase);
    await this.deps.browser.endAll(userId);
  }

  private async checkOwnPassword(ip: string, userId: string, password: string): Promise<void> {
    const signedIn = await this.deps.browser.checkCredentials(ip, userId, password).catch((err: unknown) => {
      if (err instanceof MatrixError && err.errcode === "M_FORBIDDEN") throw new MatrixError(403, "M_FORBIDDEN", "The password is wrong");
      throw err;
    });
    if (signedIn !== userId) throw new MatrixError(403, "M_FORBIDDEN", "The password is wrong");
  }
}
